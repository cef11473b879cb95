"""verify page (placeholder until its issue lands)."""
import streamlit as st

st.title("verify")
st.info("Coming soon.")
