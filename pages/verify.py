"""Verify a scaling law on your own GPUs: design a ladder of small runs, launch it, watch it, check the law.

Training never runs inside this script: Launch writes jobs to the store and starts a detached worker
process per device slot if none is alive (`python -m planner worker`); the live view polls the store.
"""
import streamlit as st

from planner.core import format as fmt
from planner.errors import PlannerError
from planner.views.errors import INPUT_ERRORS, error_sentence
from planner.core.hardware import accelerators
from planner.jobs.runners import default_device, get_runner
from planner.views import verify as plots
from planner.verify import ladder
from planner.train.corpus import CorpusSpec, check_upload, save_upload


@st.cache_resource(show_spinner=False, max_entries=16)
def design_chart(design_json: str, _design):
    """The design's chart, keyed on the design itself (_design follows from the key): reruns reuse it."""
    return plots.design_figure(_design)


st.title("Verify a scaling law on your GPUs")
st.caption("A law from a paper is a guess for your data and code. Run a ladder of small training runs "
           "(IsoFLOP: several model sizes per compute budget; or WSD: one run per size with short cooldown "
           "branches; plus one larger held-out run), then compare the fitted exponents with the published ones "
           "and check the prediction for the held-out run.")

# --- design ------------------------------------------------------------------------------------------------
st.subheader("1. Design the ladder")
left, mid, right = st.columns(3)
preset = left.selectbox("Preset", list(ladder.PRESETS), index=0,
                        help="tiny / micro: CPU ladders of 5k-100k-parameter models; gpu: 2M-60M parameters")
left.caption(ladder.PRESETS[preset].note)
design_name = right.radio("Design", list(ladder.DESIGNS), format_func=lambda d: ladder.DESIGNS[d].label,
                         help="WSD (Hägele et al. 2024, arXiv 2405.18392): one warmup-stable-decay run per size; "
                              "each cooldown branch (the last 20% of a horizon) starts from a stable checkpoint")
devices = ["cpu", "cuda"]
device = mid.radio("Device", devices, index=devices.index(default_device()), horizontal=True,
                   help="cuda: one worker per GPU on this machine (CUDA_VISIBLE_DEVICES)")
runner_name = mid.radio("Runner", ["local", "ray"], horizontal=True,
                        help="local: worker subprocesses on this machine; ray: Ray tasks (num_gpus=1 each)")
sizes = right.slider("Model sizes per budget", 3, 7, ladder.PRESETS[preset].sizes_per_budget)
gpu_hours = right.number_input("Device time budget (hours; 0 = the preset's budgets)", min_value=0.0,
                               value=0.0, step=0.1, format="%.2f")
gpus = list(accelerators())
accelerator = right.selectbox("Accelerator (for cost)", gpus, index=gpus.index(ladder.DEFAULT_ACCELERATOR),
                              disabled=device == "cpu",
                              help="prices the GPU-hours; before any cuda run is measured, the time assumes "
                                   f"{ladder.ASSUMED_MFU:.0%} MFU on this accelerator")
upload = st.file_uploader("Corpus (optional): .txt or .jsonl with a \"text\" field. Default: the Python "
                          "standard library's source.", type=["txt", "jsonl"])

try:
    # Checked now, kept only on Launch: a refused or never-pressed launch leaves no file behind
    corpus = CorpusSpec(source=str(check_upload(upload.name, upload.getvalue()).path)) if upload else None
    request = ladder.LadderRequest(preset=preset, design=design_name, device=device, sizes_per_budget=sizes,
                                   gpu_hours=gpu_hours or None, accelerator=accelerator, corpus=corpus)
    design = ladder.design_ladder(request)
except INPUT_ERRORS as err:
    st.error(error_sentence(err))
    st.stop()

c1, c2, c3, c4 = st.columns(4)
c1.metric("Runs", len(design.runs))
c2.metric("Total compute (FLOPs)", f"{design.total_flops:.3g}")
c3.metric("Estimated time", fmt.duration(design.est_seconds), help="on one device slot")
c4.metric("Estimated cost", fmt.usd(design.est_usd) if design.device != "cpu" else "— (CPU)",
          help=f"on-demand price of {accelerator}" if design.device != "cpu" else None)
st.caption(f"Throughput {design.throughput_flops_per_s:.3g} FLOP/s, {design.throughput_source}.")
if runner_name == "local":
    try:
        get_runner("local").check_device(device)
    except PlannerError as err:
        st.warning(f"{err}. The estimate below holds for a machine with a GPU; here, Launch will refuse.")
for warning in design.warnings:
    st.warning(warning)
st.plotly_chart(design_chart(design.model_dump_json(), design), width="stretch")
with st.expander("Runs of this design"):
    st.dataframe(plots.design_table(design), hide_index=True, width="stretch")

if st.button("Launch ladder", type="primary"):
    try:
        runner = get_runner(runner_name)
        runner.check_device(design.device)
        if upload:
            save_upload(upload.name, upload.getvalue())
        new_id = ladder.launch_ladder(design, runner)  # checks the device first: a refused launch queues nothing
        started = runner.ensure_workers(design.device)
    except PlannerError as err:
        st.error(f"Not launched: {error_sentence(err)}")
    else:
        st.session_state["watch"] = new_id
        st.success(f"Launched {new_id}" + (f"; started worker pid {', '.join(map(str, started))}" if started else ""))

# --- watch -------------------------------------------------------------------------------------------------
st.subheader("2. Watch and check")
ladders = ladder.list_ladders()
if not ladders:
    st.info("No ladder yet: launch one above. Runs keep going if you close or refresh this page.")
    st.stop()
if st.session_state.get("watch") not in ladders:
    st.session_state["watch"] = ladders[0]
ladder_id = st.selectbox("Ladder", ladders, key="watch")
try:
    finished = ladder.analyze_ladder(ladder_id).finished
except PlannerError as err:  # a broken job store (corrupt, unreadable): the design above still works
    st.error(error_sentence(err))
    st.stop()


def show_results(report):
    if report.fit.a is not None:
        st.subheader("3. Does the law hold?")
        f1, f2, f3 = st.columns(3)
        f1.metric(f"Fitted a (N_opt ∝ C^a, {plots.method_label(report.fit.method)})", f"{report.fit.a:.3f}")
        f2.metric("Fitted b (D_opt ∝ C^b)", f"{report.fit.b:.3f}")
        best = plots.best_holdout_error(report.holdout)
        if best:
            f3.metric(f"Held-out prediction error ({best[0]})", f"{best[1]:+.1f}%",
                      help="(predicted − measured) / measured loss of the held-out run, for the approach that "
                           "came closest; the chart below shows every approach")
        g1, g2 = st.columns(2)
        g1.plotly_chart(plots.fit_figure(report), width="stretch")
        g2.plotly_chart(plots.exponents_figure(report.fit), width="stretch")
        if report.holdout and report.holdout.predicted_loss:
            st.plotly_chart(plots.holdout_figure(report.holdout), width="stretch")
    for note in report.fit.notes:
        st.caption(note)


@st.fragment(run_every=None if finished else 2)
def live_view():
    try:
        ladder.keep_workers(ladder_id, get_runner(runner_name))  # e.g. after a server restart
        report = ladder.analyze_ladder(ladder_id)
    except PlannerError as err:
        st.error(error_sentence(err))
        return
    st.progress(*plots.progress_bar(ladder_id, report))
    m1, m2, m3 = st.columns(3)
    m1.metric("Elapsed", fmt.duration(report.elapsed_s))
    m2.metric("ETA", plots.format_eta(report.eta_s), help="the design's estimate of the work left, corrected by "
              "how fast the runs so far went")
    m3.metric("Tokens/s (running)", f"{report.tokens_per_s:,.0f}" if report.tokens_per_s else "—")
    st.dataframe(plots.status_table(report), hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)})
    curves, budgets = ladder.ladder_curves(ladder_id)
    st.plotly_chart(plots.loss_curves_figure(curves, budgets), width="stretch")
    show_results(report)  # inside the fragment: results appear as soon as the fit exists
    if report.finished and not finished:
        st.rerun()  # once more as a whole page, to stop polling


b1, b2 = st.columns(2)
if b1.button("Cancel unfinished runs"):
    try:
        st.info(f"Cancelled {ladder.cancel_ladder(ladder_id)} run(s).")
    except PlannerError as err:  # e.g. a read-only or full state directory
        st.error(error_sentence(err))
if b2.button("Retry failed runs (resume from checkpoints)"):
    try:
        runner = get_runner(runner_name)
        count = ladder.retry_failed(ladder_id, runner)  # checks the device first: a refused retry changes nothing
        ladder.keep_workers(ladder_id, runner)
    except PlannerError as err:
        st.error(error_sentence(err))
    else:
        st.info(f"Queued {count} run(s) again.")

live_view()
