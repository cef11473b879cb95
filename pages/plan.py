"""plan page (placeholder until its issue lands)."""
import streamlit as st

st.title("plan")
st.info("Coming soon.")
