"""Models & GPUs: published models checked against 6ND, the MFU their GPU-hours imply, what each would cost
on an accelerator you choose, and the accelerator table. Layout only: all numbers come from planner."""
import streamlit as st

from planner.core import budget, hardware
from planner import catalog as models
from planner.core.numbers import parse_count
from planner.views.errors import INPUT_ERRORS, error_sentence
from planner.recipe import claims, vision
from planner.views import models as plots
from planner.views import recipe as recipe_views


@st.cache_resource(show_spinner=False, max_entries=32)
def charts(rows_json: str, _rows) -> tuple:
    """Both charts, keyed on the rows they draw (_rows follows from the key): reruns with the same rows reuse them."""
    return plots.compute_figure(_rows), plots.implied_mfu_figure(_rows)


st.title("Models & GPUs")
st.caption("Published training runs next to the 6ND rule (C = 6 × params × tokens; active params for MoE), "
           "the MFU their reported GPU-hours imply, and what each run would cost today on the accelerator "
           "you pick. Every figure links to its source below.")

names = list(hardware.accelerators())
left, mid, right = st.columns(3)
accelerator = left.selectbox("Accelerator", names, index=names.index(budget.DEFAULT_ACCELERATOR),
                             help="prices each model's training run (dense BF16 peak, on-demand price)")
mfu = mid.number_input("MFU", min_value=0.01, max_value=1.0, value=budget.DEFAULT_MFU, step=0.05,
                       help="model-FLOPs utilisation you expect: 0.35-0.5 is typical of large dense runs")
gpus = right.number_input("GPUs", min_value=1, max_value=budget.MAX_GPU_COUNT, value=1024, step=64,
                          help="sets the wall-clock days")

chosen = hardware.get_accelerator(accelerator)
try:
    rows = models.model_table(accelerator, mfu, int(gpus))
    costed = f"training each model on {int(gpus):,} × {chosen.name} at {mfu:.0%} MFU"
except INPUT_ERRORS as err:  # only the cost columns depend on MFU and GPUs: show the rest
    mid.error(error_sentence(err))
    rows = models.model_table(accelerator, None, int(gpus))
    costed = "not computed until the MFU is valid (see the message under it)"

st.subheader("Published models")
st.markdown(f"Cost columns: {costed}; ${chosen.usd_per_hour:.2f} per GPU-hour on {chosen.name} "
            f"({chosen.price_source}, {chosen.price_date}).")
st.dataframe(plots.models_frame(rows), column_config=plots.models_column_config(st.column_config),
             hide_index=True, height=460, placeholder="—", key="models_table")

flagged = [r.name for r in rows if r.compute_flagged]
implausible = [f"{r.name} ({r.implied_mfu:.0%})" for r in rows if r.mfu_plausible is False]
if flagged:
    st.warning("Quoted compute more than 25% away from 6ND: " + ", ".join(flagged))
else:
    st.success("Every quoted compute figure in the catalog is within 25% of 6ND.")
if implausible:
    st.info("Implied MFU outside the usual 25-65% band (the published hours likely include restarts, "
            "ablations or more than pre-training; see the notes): " + ", ".join(implausible))

chart_left, chart_right = st.columns(2)
compute_chart, mfu_chart = charts("\n".join(r.model_dump_json() for r in rows), rows)
chart_left.plotly_chart(compute_chart, key="compute_chart")
chart_right.plotly_chart(mfu_chart, key="mfu_chart")

st.subheader("Accelerators")
st.caption("Dense peaks (vendor pages often quote 2:4-sparse numbers, twice as large). Prices are on-demand "
           "list prices on the date shown and move monthly; rows marked approximate are estimates.")
st.dataframe(plots.accelerators_frame(list(hardware.accelerators().values())),
             column_config=plots.accelerators_column_config(st.column_config), hide_index=True,
             height="content", placeholder="—", key="gpus_table")

with st.expander("Sources and notes for every model"):
    st.dataframe(plots.sources_frame(rows), hide_index=True, placeholder="—")

# --- Run recipe (issue 11): check a quoted compute figure; commonly quoted figures; vision presets ----------
st.subheader("Check a quoted figure")
st.caption("Slides and notes often quote training compute. Give the run's size and tokens (active parameters for "
           "a mixture of experts) and the figure as quoted; 6ND says whether it holds up.")
q1, q2, q3, q4 = st.columns(4)
claim_params = q1.text_input("Parameters", "70B", key="claim_params")
claim_active = q2.text_input("Active parameters (MoE, optional)", "", key="claim_active")
claim_tokens = q3.text_input("Tokens", "2T", key="claim_tokens")
claim_quoted = q4.text_input("Quoted compute", "6000 PF-days", key="claim_quoted",
                             help="'6000 PF-days', '3.1e23 FLOPs' or '3.1e23'")
try:
    claim = claims.check_claim(parse_count(claim_params), parse_count(claim_tokens), claim_quoted,
                               parse_count(claim_active) if claim_active.strip() else None)
    st.table(recipe_views.claim_frame(claim))
    (st.warning if claim.flagged else st.success)(claim.explanation)
except INPUT_ERRORS as err:
    st.error(error_sentence(err))

st.subheader("Commonly quoted figures")
quoted = claims.quoted_figures()
st.table(recipe_views.quoted_frame(quoted))
with st.expander("Why each verdict"):
    for line in recipe_views.quoted_notes(quoted):
        st.markdown(line)

st.subheader("Vision foundation models")
st.caption("Exact parameter counts as transformers builds the published configs; training compute from samples "
           "seen × tokens per sample (patches + class token; both towers for CLIP; all crops and the teacher "
           "for DINOv2), each with its assumption.")
vision_rows = [{"params": vision.vision_params(n), "compute": vision.vision_compute(n)}
               for n in vision.vision_presets()]
st.table(recipe_views.vision_frame(vision_rows))
with st.expander("The compute assumption of each preset"):
    for line in recipe_views.vision_notes(vision_rows):
        st.markdown(line)
