"""scaleplan: size foundation-model training runs. Navigation and the shared sidebar; nothing else."""
import streamlit as st

st.set_page_config(page_title="scaleplan", page_icon=":material/trending_up:", layout="wide")

PAGES = {
    "Plan": [
        st.Page("pages/plan.py", title="Plan a run", icon=":material/calculate:", default=True),
        st.Page("pages/models.py", title="Models & GPUs", icon=":material/table_chart:"),
    ],
    "Your data": [
        st.Page("pages/fit.py", title="Fit laws", icon=":material/show_chart:"),
        st.Page("pages/verify.py", title="Verify on GPUs", icon=":material/science:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ],
    "Adapt": [
        st.Page("pages/adapt.py", title="Adaptation methods", icon=":material/tune:"),
    ],
}

page = st.navigation(PAGES)
st.sidebar.caption("scaleplan — compute-optimal planning from published scaling laws and your own runs.")
page.run()
