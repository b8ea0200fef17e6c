"""Pages keep per-user memory in Streamlit's resource cache (import drafts, the CPO chosen last). It lives as
long as the process, so each test starts with it empty: user names repeat across tests."""

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def _fresh_page_memory():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()
