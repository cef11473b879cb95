"""Adaptation methods: what full fine-tuning, LoRA, QLoRA, prompt/prefix tuning, IA3, BitFit, a linear probe
and zero-shot cost for a base model (estimates), and how they do when measured on this machine.
Layout only: every number comes from planner.adapt.estimate / planner.adapt.measure."""
from typing import get_args

import streamlit as st

from planner.adapt import estimate as adaptation
from planner.adapt import job as adapt_jobs
from planner.adapt.measure import PROSE, AdaptRunSpec
from planner.adapt.methods import method_names
from planner.adapt.methods.base import Attention, Precision
from planner.core import budget, hardware
from planner.errors import PlannerError
from planner.views import adapt as plots
from planner.views.errors import INPUT_ERRORS, error_sentence
from planner.views.paths import file_names_only


@st.cache_resource(show_spinner=False, max_entries=32)
def estimate_charts(comparison_json: str, _comparison) -> tuple:
    """Both estimate charts, keyed on the comparison they draw (_comparison follows from the key)."""
    return plots.memory_breakdown_figure(_comparison), plots.trainable_figure(_comparison)


st.title("Adaptation methods")
st.caption("Most teams adapt a foundation model rather than train one. For a base model and an accelerator, "
           "each method's trainable parameters, memory per GPU, FLOPs, GPU-hours and dollars — then the same "
           "methods measured side by side on this machine, so the estimator's error is visible.")

# ------------------------------------------------------------------------------------------ estimate
st.subheader("Estimate")
defaults = adaptation.AdaptRequest()
models = adaptation.model_choices()
accels = list(hardware.accelerators())
c1, c2, c3, c4 = st.columns(4)
model = c1.selectbox("Base model", models, index=models.index("llama-2-70b"),
                     help="an architecture preset, or a model-table entry (shape suggested from its size)")
accelerator = c2.selectbox("Accelerator", accels, index=accels.index(budget.DEFAULT_ACCELERATOR))
tokens = c3.number_input("Dataset tokens", min_value=1e3, value=1e8, format="%.3g",
                         help="tokens in the fine-tuning set (one epoch)")
epochs = c4.number_input("Epochs", min_value=0.1, value=1.0, step=0.5)

checkpointing = st.checkbox("Gradient checkpointing", value=True,
                            help="recompute each layer in the backward pass: far less activation memory for "
                                 "one extra forward (≈ +33% FLOPs); the usual setting for QLoRA on big models")
c1, c2, c3, c4 = st.columns(4)
rank = c1.number_input("LoRA rank", min_value=0, value=defaults.rank, step=4,
                       help="r of LoRA/QLoRA: trains r·(d_in + d_out) per target layer")
alpha = c2.number_input("LoRA alpha", min_value=0.0, value=defaults.alpha, step=4.0)
micro_batch = c3.number_input("Micro-batch", min_value=1, value=1, help="sequences per GPU per step")
seq_len = c4.number_input("Sequence length", min_value=16, value=2048, step=256)

with st.expander("More knobs (defaults: peft's LoRA targets, bf16 weights, SDPA attention)"):
    k1, k2, k3, k4 = st.columns(4)
    precision = k1.selectbox("Weights", get_args(Precision),
                             help="bf16: weights and AdamW states in bf16; mixed: bf16 weights + fp32 master and "
                                  "Adam states; amp: fp32 weights with bf16 autocast; fp32: no autocast")
    attention = k2.selectbox("Attention kernel", get_args(Attention))
    virtual = k3.number_input("Virtual tokens", min_value=0, value=defaults.virtual_tokens,
                              help="prompt and prefix tuning")
    mfu = k4.number_input("MFU", min_value=0.01, max_value=1.0, value=defaults.mfu, step=0.05)
    try:
        choices = adaptation.target_choices(model)
    except PlannerError:
        choices = []
    targets = st.multiselect("LoRA target modules (empty = peft's default)", choices)

try:
    request = adaptation.AdaptRequest(rank=int(rank), alpha=alpha, target_modules=targets or None,
                                      virtual_tokens=int(virtual), micro_batch=int(micro_batch),
                                      seq_len=int(seq_len), precision=precision, attention=attention,
                                      gradient_checkpointing=checkpointing, dataset_tokens=tokens, epochs=epochs,
                                      accelerator=accelerator, mfu=mfu)
    comparison = adaptation.compare(model, request)
except INPUT_ERRORS as err:
    st.error(error_sentence(err))
    comparison = None

if comparison is not None:
    for line in plots.invalid_methods(comparison):  # e.g. rank 0: LoRA and QLoRA only, the rest stand
        st.error(line)
    if comparison.cheapest_fitting:
        st.success(comparison.advice)
    else:  # a result, not an input error: the table below says which methods do not fit
        st.warning(comparison.advice)
    st.dataframe(plots.cost_table(comparison), hide_index=True, key="cost_table",
                 column_config={"trainable %": st.column_config.NumberColumn(format="%.3g"),
                                "memory per GPU (GB)": st.column_config.NumberColumn(format="%.1f"),
                                "FLOPs / token": st.column_config.NumberColumn(format="%.3e"),
                                "cost": st.column_config.TextColumn(help="GPU-hours x on-demand price"),
                                "cheapest": st.column_config.TextColumn(
                                    help="★ the cheapest trained method that fits on one GPU"),
                                "expected mem. error": st.column_config.TextColumn(
                                    help="worst error of this method's memory estimate on published runs")})
    st.caption(plots.validation_caption())
    if comparison.too_big:
        st.caption(f"⚠ {comparison.too_big}")
    memory_chart, trainable_chart = estimate_charts(comparison.model_dump_json(), comparison)
    st.plotly_chart(memory_chart, key="memory_chart")
    st.plotly_chart(trainable_chart, key="trainable_chart")
    with st.expander("Assumptions of each estimate"):
        for e in comparison.estimates:
            st.markdown(f"`{e.method}`: " + "; ".join(e.assumptions))

# ------------------------------------------------------------------------------------------ measured
st.subheader("Measured on this machine")
st.caption("Every selected method adapts the same small base model (pretrained briefly on Python source, or a "
           "finished verification run of this store) to English prose (the Python docs), same data and steps. "
           "Runs as a background job: leave the page and come back.")
try:
    bases = {adapt_jobs.base_job_label(j): j.id for j in adapt_jobs.base_jobs()}
except PlannerError as err:  # a broken job store (corrupt, unreadable): the estimates above still show
    st.error(error_sentence(err))
    st.stop()
PRETRAIN = "none: pretrain the preset briefly on Python source"
with st.form("launch"):
    m1, m2, m3, m4 = st.columns(4)
    run_preset = m1.selectbox("Base preset", ["tiny", "tiny-gpt2", "gpt2"], help="tiny presets run on CPU")
    device = m2.selectbox("Device", ["cpu", "cuda"])
    steps = m3.number_input("Steps per method", min_value=1, value=30)
    base_steps = m4.number_input("Base pretraining steps", min_value=0, value=60)
    names = method_names()
    run_methods = st.multiselect("Methods", names, default=names)
    base_choice = st.selectbox("Base weights (a finished verification run)", [PRETRAIN, *bases],
                               help="the final checkpoint of a verification run of this store; its model "
                                    "replaces the preset. Checkpoints load as plain tensors only.")
    upload = st.file_uploader("Downstream corpus (optional; default: the Python docs' prose)", type=["txt", "jsonl"],
                              help=".txt: documents separated by two blank lines; .jsonl: one {\"text\": ...} per line")
    launched = st.form_submit_button("Run comparison")
if launched:
    try:
        spec = AdaptRunSpec(preset=run_preset, device=device, steps=int(steps), base_steps=int(base_steps),
                            methods=run_methods, corpus=PROSE, base_job=bases.get(base_choice))
        st.session_state["adapt_job"] = adapt_jobs.submit(
            spec, upload=(upload.name, upload.getvalue()) if upload else None)
    except INPUT_ERRORS as err:
        st.error(f"Not launched: {error_sentence(err)}")


pending = any(not j.finished for j in adapt_jobs.jobs())


@st.fragment(run_every=3 if pending else None)
def show_runs():
    jobs = adapt_jobs.jobs()
    if not jobs:
        st.info("No measured comparison yet: choose methods above and press Run comparison.")
        return
    labels = {plots.comparison_label(j): j for j in jobs}
    chosen = st.selectbox("Comparison", list(labels), key="adapt_job_choice")
    job = labels[chosen]
    if not job.finished:
        st.progress(job.progress, text=f"{job.status}: {job.progress:.0%}")
        return
    result = adapt_jobs.result_of(job)
    if result is None:
        st.error(file_names_only(f"job {job.id} {job.status}: {job.error}"))  # never the server's paths
        return
    st.markdown(f"Base: {result.base}.")
    for line in plots.skipped_lines(result):
        st.warning(line)
    st.plotly_chart(plots.eval_curves_figure(result), key=f"curves_{job.id}")
    st.plotly_chart(plots.measured_bars_figure(result), key=f"bars_{job.id}")
    st.caption(plots.memory_sources_caption(result))
    st.plotly_chart(plots.estimate_vs_measured_figure(result), key=f"error_{job.id}")
    st.dataframe(plots.estimate_error_table(result), hide_index=True, key=f"error_table_{job.id}")


show_runs()
