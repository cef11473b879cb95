"""models page (placeholder until its issue lands)."""
import streamlit as st

st.title("models")
st.info("Coming soon.")
