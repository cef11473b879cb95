"""adapt page (placeholder until its issue lands)."""
import streamlit as st

st.title("adapt")
st.info("Coming soon.")
