"""Entry script: sign-in and navigation only. Pages are thin views over ``oioi_onboard``."""

from pathlib import Path

import streamlit as st

from common import account_sidebar, current_actor, is_signed_in
from oioi_onboard.store import Role

st.set_page_config(page_title="OIOI onboarding", page_icon=":material/ev_station:", layout="wide")

ONBOARDING = [("views/overview.py", "Overview", ":material/checklist:"),
              ("views/cpos.py", "1 · CPOs", ":material/business:"),
              ("views/import_stations.py", "2 · Import stations", ":material/upload_file:"),
              ("views/push.py", "3 · Push", ":material/send:")]
LIVE = [("views/live_map.py", "Live map", ":material/map:")]

if not is_signed_in():
    # The sign-in form as the only (hidden) page, under the root and every page's address: a link to a page signs
    # in and then opens that page, not the first one. The root is a page of its own: a default page answers at the
    # root only, so the overview's address was "Page not found". (The pages live in views/, not pages/: Streamlit
    # runs a script of a pages/ folder by itself, without this file, when a new server's first visitor opens it.)
    addresses = ["sign-in", *(Path(file).stem for file, _, _ in ONBOARDING + LIVE)]
    st.navigation([st.Page(current_actor, title="Sign in", url_path=address, default=n == 0)
                   for n, address in enumerate(addresses)], position="hidden").run()
    st.stop()
actor = current_actor()
account_sidebar(actor)

live = [st.Page(file, title=title, icon=icon) for file, title, icon in LIVE]
if actor.role == Role.VIEWER:
    pages = {"Live": live}
else:
    pages = {"Onboarding": [st.Page(file, title=title, icon=icon, default=n == 0)
                            for n, (file, title, icon) in enumerate(ONBOARDING)],
             "Live": live}
st.navigation(pages).run()
