"""runs page (placeholder until its issue lands)."""
import streamlit as st

st.title("runs")
st.info("Coming soon.")
