import streamlit as st

st.title("Import stations")
st.info("Coming soon.")
