import streamlit as st

st.title("CPOs")
st.info("Coming soon.")
