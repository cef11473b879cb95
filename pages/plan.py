"""Plan a run: a budget in any form -> the compute-optimal run under each chosen law."""
import json

import streamlit as st

from planner.core import budget, format as fmt, hardware, laws
from planner import plan
from planner.core.numbers import parse_count
from planner.errors import PlannerError
from planner.views.errors import INPUT_ERRORS, error_sentence
from planner.views import plan as plots
from planner.views import systems as systems_views
from planner.systems.goodput import DEFAULT_GOODPUT, GOODPUT_SOURCE
from planner.systems.layout import BATCH_TOKENS_STEP, DEFAULT_BATCH_TOKENS
from planner.systems.published import REALIZED_SHARE
from planner.recipe import hparams, inference, overtrain
from planner.views import recipe as recipe_views
from planner.views.export import csv_download  # every CSV download: formula-safe cells

st.title("Plan a run")
st.caption("State a compute budget; get the compute-optimal model size and token count under published "
           "scaling laws (and your saved fits), with predicted loss, GPU-hours, wall-clock, cost and memory.")

BUDGET_FORMS = ["GPUs × days", "FLOPs", "GPU-hours", "Dollars", "Free text"]
SHARDING = {"ZeRO-3 / FSDP": "zero3", "ZeRO-2": "zero2", "ZeRO-1": "zero1", "None (DDP)": "none"}
RECOMPUTE = {"Full recomputation": "full", "Selective": "selective", "None": "none"}


# --- page-edge caches: a rerun redraws from these; the planner's functions stay pure ----------------------
# Keys are JSON of the request plus the chosen laws' definitions (law_key): a law re-saved on the Fit page under
# the same name is a new key. Figures are cache_resource (shared, not copied: st.plotly_chart only reads them).
def law_key(names: list[str], known: dict) -> str:
    return json.dumps({n: known[n].model_dump(mode="json") for n in names if n in known}, sort_keys=True)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_plan(request_json: str, laws_json: str) -> plan.Plan:
    return plan.make_plan(plan.PlanRequest.model_validate_json(request_json))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_table(request_json: str, laws_json: str):
    return plan.plan_table(cached_plan(request_json, laws_json))


@st.cache_resource(show_spinner=False, max_entries=64)
def isoflop_chart(names: tuple[str, ...], flops: float, laws_json: str):
    return plots.isoflop_figure(plan.isoflop_panels(list(names), flops), flops)


@st.cache_resource(show_spinner=False, max_entries=64)
def frontier_chart(names: tuple[str, ...], flops: float, laws_json: str):
    return plots.frontier_figure(plan.frontier(list(names), *plan.frontier_range(flops)), flops)


@st.cache_resource(show_spinner=False, max_entries=64)
def memory_chart(request_json: str, laws_json: str):
    return plots.memory_figure(cached_table(request_json, laws_json))


@st.cache_resource(show_spinner=False, max_entries=64)
def overtrain_view(law_name: str, flops: float, laws_json: str):
    over = overtrain.overtrain_table(law_name, flops)
    return over, recipe_views.overtrain_frame(over), recipe_views.overtrain_figure(over)


@st.cache_resource(show_spinner=False, max_entries=64)
def serving_view(law_name: str, flops: float, demand_json: str, accelerator: str, laws_json: str):
    demand = inference.InferenceDemand.model_validate_json(demand_json)
    served = inference.inference_aware(law_name, flops, demand, accelerator=accelerator)
    figure = recipe_views.inference_figure(inference.cost_curve(law_name, flops, demand), served)
    return served, recipe_views.inference_frame(served), figure


@st.cache_resource(show_spinner=False, max_entries=64)
def layout_chart(request_json: str, laws_json: str):
    return systems_views.time_figure(cached_plan(request_json, laws_json).plans[0].layout)


left, right = st.columns([1, 1], gap="large")
with left:
    form = st.radio("Budget as", BUDGET_FORMS, horizontal=True)
    accelerators = list(hardware.accelerators())
    accelerator = st.selectbox("Accelerator", accelerators, index=accelerators.index(budget.DEFAULT_ACCELERATOR))
    a, b = st.columns(2)
    gpus = a.number_input("GPUs", min_value=1, max_value=budget.MAX_GPU_COUNT, value=256, step=64,
                          help="GPUs the run uses; sets wall-clock days and memory per GPU")
    # Read before the checkbox below draws: with a predicted MFU the slider has no effect, so it is greyed out.
    mfu = b.slider("MFU", 0.05, 0.80, budget.DEFAULT_MFU, 0.01, disabled=st.session_state.get("sys_mfu_auto", False),
                   help="model-FLOPs utilisation: achieved / peak dense BF16 FLOP/s (0.35-0.5 is typical)")
    mfu_auto = b.checkbox("Use predicted MFU", key="sys_mfu_auto",
                          help="plan with the MFU the systems model predicts for the fastest parallel layout that "
                               f"fits, times the share of it published runs reached ({REALIZED_SHARE:.2f}) and the "
                               "goodput (see 'Parallel layout and MFU model'); the slider is then ignored")
    if form == "GPUs × days":
        days = st.number_input("Days", min_value=0.01, value=30.0, step=1.0)
        request = budget.BudgetRequest(gpus=gpus, days=days, accelerator=accelerator, mfu=mfu)
    elif form == "FLOPs":
        text = st.text_input("Training compute (FLOPs)", "5.88e23", help="e.g. 1e24 or 3640 PF-days")
        request = None
    elif form == "GPU-hours":
        hours = st.number_input("GPU-hours", min_value=1.0, value=100_000.0, step=1000.0)
        request = budget.BudgetRequest(gpu_hours=hours, gpus=gpus, accelerator=accelerator, mfu=mfu)
    elif form == "Dollars":
        dollars = st.number_input("Budget (USD)", min_value=1.0, value=2_000_000.0, step=100_000.0)
        request = budget.BudgetRequest(usd=dollars, gpus=gpus, accelerator=accelerator, mfu=mfu)
    else:
        text = st.text_input("Budget", "512 H100 for 30 days",
                             help=f"for example {budget.EXAMPLES}; an accelerator named here wins")
        request = None

with right:
    known_laws = laws.all_laws()  # read once per rerun (saved laws are files)
    law_names = list(known_laws)
    chosen = st.multiselect("Scaling laws", law_names,
                            default=[laws.DEFAULT_LAW, "hoffmann2022-approach1", "kaplan2020"],
                            help="published presets and the laws you saved on the Fit page")
    with st.expander("Run shape and memory settings"):
        c1, c2 = st.columns(2)
        seq_len = c1.number_input("Sequence length", min_value=128, value=2048, step=512)
        micro_batch = c2.number_input("Micro-batch (sequences/GPU)", min_value=1, value=1)
        sharding = c1.selectbox("Sharding", list(SHARDING))
        recompute = c2.selectbox("Activation recomputation", list(RECOMPUTE))
    # Issue 12: every input of the layout search and throughput model, defaulting to the accelerator's row.
    acc_row = hardware.get_accelerator(accelerator)
    with st.expander("Parallel layout and MFU model"):
        s1, s2 = st.columns(2)
        batch_tokens = s1.number_input("Global batch (tokens)", min_value=1024, value=DEFAULT_BATCH_TOKENS,
                                       step=BATCH_TOKENS_STEP, key="sys_batch_tokens")
        goodput = s2.slider("Goodput", 0.30, 1.00, DEFAULT_GOODPUT, 0.01, key="sys_goodput",
                            help=f"productive share of wall-clock, used with predicted MFU. {GOODPUT_SOURCE}")
        hardware_overrides = {
            "matmul_efficiency": s1.number_input("Matmul efficiency (of peak)", 0.05, 1.0,
                                                 acc_row.matmul_efficiency, 0.01, key="sys_matmul",
                                                 help=acc_row.matmul_source),
            "bandwidth_tbs": s2.number_input("HBM bandwidth (TB/s)", 0.05, 50.0, acc_row.bandwidth_tbs,
                                             key="sys_hbm", help=acc_row.source),
            "intra_node_gbs": s1.number_input("Intra-node GB/s per GPU", 0.1, 10000.0, acc_row.intra_node_gbs,
                                              key="sys_intra", help=acc_row.interconnect_source),
            "inter_node_gbs": s2.number_input("Inter-node GB/s per GPU", 0.01, 10000.0, acc_row.inter_node_gbs,
                                              key="sys_inter", help=acc_row.interconnect_source),
            "node_size": s1.number_input("GPUs per node", 1, 100000, acc_row.node_size, key="sys_node"),
        }

law_names_used = chosen or [laws.DEFAULT_LAW]
if not chosen:
    st.caption(f"No law chosen: planning with the default, {laws.DEFAULT_LAW}.")
laws_json = law_key(law_names_used, known_laws)
try:
    if request is None:
        request = budget.parse_budget(text, accelerator=accelerator, mfu=mfu, gpus=gpus)
    plan_request = plan.PlanRequest(
        budget=request, laws=law_names_used, seq_len=seq_len, micro_batch=micro_batch,
        sharding=SHARDING[sharding], recompute=RECOMPUTE[recompute], mfu_auto=mfu_auto, goodput=goodput,
        global_batch_tokens=int(batch_tokens), accelerator_overrides=hardware_overrides)
    request_json = plan_request.model_dump_json()
    result = cached_plan(request_json, laws_json)  # an unrelated input (serving demand, a tab) keeps this plan
except INPUT_ERRORS as err:
    st.error(error_sentence(err))
    st.stop()

b = result.budget
st.info(plots.budget_summary(b, goodput if mfu_auto and result.plans[0].layout else None))  # predicted MFU

first = result.plans[0]
st.subheader(f"Compute-optimal run — {first.law}")
for column, item in zip(st.columns(5) + st.columns(5), plots.headline(first)):
    column.metric(item.label, item.value, help=item.help)
st.markdown(plots.shape_summary(first))
# Run recipe (issue 11): learning rate and batch next to the suggested shape; details in the section below.
law_for_recipe = inference.sizing_law([p.law for p in result.plans])
recipe_laws_json = law_key([law_for_recipe], known_laws)
try:
    run_hparams = hparams.hparams(first.allocation.params, first.allocation.tokens, seq_len=int(seq_len))
    st.caption("Learning rate and batch for this run: " + recipe_views.hparams_line(run_hparams)
               + " (see *Beyond the compute-optimal run* below)")
except PlannerError as err:
    run_hparams = None
    st.caption(f"No learning-rate suggestion: {err}")
for warning in plots.memory_warnings(result):
    st.warning(warning)

st.subheader("The laws side by side")
table = cached_table(request_json, laws_json)
st.dataframe(plots.display_table(table), hide_index=True, width="stretch")

# Only the open tab is drawn (on_change="rerun" makes .open known): each chart costs a figure's serialisation.
tabs = st.tabs(["IsoFLOP curves", "N* and D* frontier", "Memory per GPU"], key="plan_charts", on_change="rerun")
try:
    if tabs[0].open:
        tabs[0].plotly_chart(isoflop_chart(tuple(law_names_used), b.flops, laws_json), width="stretch")
        if note := plots.isoflop_budget_note(result):
            tabs[0].caption(note)
    if tabs[1].open:
        tabs[1].plotly_chart(frontier_chart(tuple(law_names_used), b.flops, laws_json), width="stretch")
    if tabs[2].open:
        tabs[2].plotly_chart(memory_chart(request_json, laws_json), width="stretch")
except INPUT_ERRORS as err:  # a chart a budget this small cannot draw; the plan above stands
    st.error(error_sentence(err))


@st.fragment
def fixed_counterpart(names: list[str], resolved: budget.Budget) -> None:
    """A fragment: its two inputs change only this table, so they rerun only this section."""
    f1, f2 = st.columns([1, 3])
    fixed = f1.radio("Fixed", ["model size (params)", "tokens"])
    amount = f1.text_input("Amount", "7e9" if fixed.startswith("model") else "2e12")
    try:
        value = parse_count(amount)
        by_size = fixed.startswith("model")
        f2.dataframe(plan.fixed_allocations(names, resolved, params=value if by_size else None,
                                            tokens=None if by_size else value), hide_index=True)
    except INPUT_ERRORS as err:
        f2.error(error_sentence(err))


with st.expander("Size or data already fixed? The compute-optimal counterpart under each law"):
    fixed_counterpart(law_names_used, b)

# --- Parallel layout (issue 12): the chosen layout, its predicted MFU and where a step's time goes ------------
st.subheader("Parallel layout and throughput")
if first.layout is None:
    st.warning(systems_views.no_layout_message(first, b))
else:
    st.markdown(systems_views.layout_headline(first, b, mfu_auto))
    for column, (label, value) in zip(st.columns(5) + st.columns(5), systems_views.layout_metrics(first.layout)):
        column.metric(label, value)
    st.plotly_chart(layout_chart(request_json, laws_json), width="stretch")
    st.caption(systems_views.accuracy_note())  # how far to trust the MFU and memory above
    with st.expander("Other layouts and why they lost"):
        st.table(systems_views.alternatives_table(first.layout))  # static: the ranking is the point
    with st.expander("Constants of the throughput model and their sources"):
        st.table(systems_views.constants_table(hardware.with_overrides(b.accelerator, hardware_overrides)))

# --- Run recipe (issue 11): serving demand (Sardana 2024), over-training (Gadre 2024), hyperparameters ---------
st.subheader("Beyond the compute-optimal run")
st.caption(f"Trade-offs under {law_for_recipe}, " + ("the first chosen law with a loss surface L(N, D)."
           if law_for_recipe in [p.law for p in result.plans] else "the default: no chosen law has a loss surface."))
serving, overtraining, hyper = st.tabs(["Serving demand", "Over-training", "Learning rate & batch"])


@st.fragment
def serving_section(law_name: str, b: budget.Budget, laws_json: str) -> None:
    """A fragment: the serving inputs change only this tab, so they rerun only this section."""
    s1, s2, s3 = st.columns(3)
    demand_text = s1.text_input("Lifetime inference tokens", "1e13", key="inference_tokens",
                                help="prompt + generated tokens the model will serve, e.g. 2T or 1e13")
    prefill = s2.slider("Prompt share", 0.0, 1.0, 0.5, 0.05, key="prefill_share",
                        help="share of served tokens that are prompt (prefill) rather than generated")
    decode_mfu = s3.slider("Generation MFU", 0.01, 0.80, float(b.mfu), 0.01, key="decode_mfu",
                           help="decoding is memory-bound: often 0.05-0.2; prompts run at the training MFU")
    try:
        demand = inference.InferenceDemand(tokens=parse_count(demand_text), prefill_share=prefill,
                                           mfu_train=b.mfu, mfu_prefill=b.mfu, mfu_generate=decode_mfu)
        served, frame, figure = serving_view(law_name, b.flops, demand.model_dump_json(), b.accelerator, laws_json)
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Serving-aware N", fmt.count(served.params))
        m2.metric("Serving-aware D", fmt.count(served.tokens))
        m3.metric("Serving-aware tokens/param", f"{served.tokens_per_param:.0f}")
        m4.metric("Total cost saved", f"{served.total_saving:.0%}", help="training + serving, vs the "
                  "training-only optimum serving the same tokens")
        st.table(frame)
        st.plotly_chart(figure, width="stretch")
        st.caption(f"Same loss as the training-only optimum; {served.citation}.")
    except ValueError as err:  # PlannerError, or InferenceDemand refusing a value
        st.error(error_sentence(err))


with serving:
    serving_section(law_for_recipe, b, recipe_laws_json)
with overtraining:
    try:
        over, over_frame, over_figure = overtrain_view(law_for_recipe, b.flops, recipe_laws_json)
        st.table(over_frame)
        st.plotly_chart(over_figure, width="stretch")
        st.caption(f"{over.citation}. Compute for the optimal loss: training compute at that ratio that reaches "
                   "the compute-optimal loss, relative to the budget.")
    except PlannerError as err:
        st.error(error_sentence(err))
with hyper:
    if run_hparams is not None:
        st.table(recipe_views.hparams_frame(run_hparams))
        st.caption(run_hparams.mapping_note)
        st.info(run_hparams.critical_batch_caveat)
        st.markdown(run_hparams.schedule_advice)

d1, d2 = st.columns(2)
# Deferred (a callable): the files are built when a button is pressed, not on every rerun; on_click="ignore":
# a download needs no rerun, and a rerun started by one click dropped the next click's file (CI, e2e).
d1.download_button("Download plan (JSON)", lambda: json.dumps(result.model_dump(mode="json"), indent=2),
                   file_name="scaleplan-plan.json", mime="application/json", on_click="ignore")
d2.download_button("Download plan (CSV)", lambda: csv_download(table), file_name="scaleplan-plan.csv",
                   mime="text/csv", on_click="ignore")
