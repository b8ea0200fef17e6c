"""Entry script: sign-in and navigation only. Pages are thin views over ``oioi_onboard``."""

import streamlit as st

from common import account_sidebar, current_actor, is_signed_in
from oioi_onboard.store import Role

st.set_page_config(page_title="OIOI onboarding", page_icon=":material/ev_station:", layout="wide")

if not is_signed_in():
    # The sign-in form as the only (hidden) page: Streamlit would otherwise list the files in pages/.
    st.navigation([st.Page(current_actor, title="Sign in", url_path="sign-in")], position="hidden").run()
    st.stop()
actor = current_actor()
account_sidebar(actor)

live = [st.Page("pages/live_map.py", title="Live map", icon=":material/map:")]
if actor.role == Role.VIEWER:
    pages = {"Live": live}
else:
    pages = {
        "Onboarding": [
            st.Page("pages/overview.py", title="Overview", icon=":material/checklist:", default=True),
            st.Page("pages/cpos.py", title="1 · CPOs", icon=":material/business:"),
            st.Page("pages/import_stations.py", title="2 · Import stations", icon=":material/upload_file:"),
            st.Page("pages/push.py", title="3 · Push", icon=":material/send:"),
        ],
        "Live": live,
    }
st.navigation(pages).run()
