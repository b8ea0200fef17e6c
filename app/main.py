"""Entry script: navigation only. Pages are thin views over ``oioi_onboard``."""

import streamlit as st

st.set_page_config(page_title="OIOI onboarding", page_icon="⚡", layout="wide")

pages = {
    "Onboarding": [
        st.Page("pages/overview.py", title="Overview", icon="📋", default=True),
        st.Page("pages/cpos.py", title="1 · CPOs", icon="🏢"),
        st.Page("pages/import_stations.py", title="2 · Import stations", icon="📄"),
        st.Page("pages/push.py", title="3 · Push", icon="🚀"),
    ],
    "Live": [st.Page("pages/live_map.py", title="Live map", icon="🗺️")],
}
st.navigation(pages).run()
