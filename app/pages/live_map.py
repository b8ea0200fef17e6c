import streamlit as st

st.title("Live map")
st.info("Coming soon.")
