"""fit page (placeholder until its issue lands)."""
import streamlit as st

st.title("fit")
st.info("Coming soon.")
