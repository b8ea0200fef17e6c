import streamlit as st

st.title("Push")
st.info("Coming soon.")
