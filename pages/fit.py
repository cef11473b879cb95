"""Fit laws: upload loss curves or final losses, map columns, fit a law, see how sure it is, save it."""
import itertools
import json

import pandas as pd
import streamlit as st

from planner.fitting import uploads as io
from planner.core import laws
from planner.errors import PlannerError
from planner.views.errors import error_sentence
from planner.fitting import METHODS, FitOptions, fit_runs, parse_target_flops, to_law
from planner.views import fit as plots
from planner.views.export import csv_download, plain  # upload content is shown as text, downloaded formula-safe
from planner.core.settings import DATA_TABLES

st.title("Fit scaling laws to your runs")
st.caption("Upload the losses of your own runs (a tidy table or a W&B / TensorBoard wide export); get the law "
           "they obey, bootstrap intervals, and the compute-optimal size at your budget.")

SAMPLE = DATA_TABLES / "sample_runs.csv"
AUTO = "(recognise by name)"
ALL = "(all rows)"


@st.cache_data(show_spinner=False, max_entries=16)
def read_preview(name: str, data: bytes) -> tuple[pd.DataFrame, list[str]]:
    return io.read_table(name, data)


@st.cache_data(show_spinner=False, max_entries=16)
def load(files: tuple, mapping_json: str, sizes: tuple | None, filters_json: str, split: bool = True) -> io.RunTable:
    sizes_df = read_preview(*sizes)[0] if sizes else None
    return io.load_runs(list(files), io.ColumnMapping.model_validate_json(mapping_json), sizes_df,
                        json.loads(filters_json), split_runs=split)


@st.cache_data(show_spinner="Fitting…", max_entries=32)
def fit(table_json: str, options_json: str):
    return fit_runs(io.RunTable.model_validate_json(table_json), FitOptions.model_validate_json(options_json))


@st.cache_resource(show_spinner=False, max_entries=16)
def figures(table_json: str, options_json: str, points: str, _table: io.RunTable, _result) -> dict:
    """The five charts of one fit and the tables behind them, keyed on what the fit was keyed on (_table and
    _result follow from the key): a rerun for an unrelated input (the law's name, a tab) reuses them. Shared,
    not copied: charts and downloads only read."""
    runs = _table.frame()
    return {"compute": plots.loss_vs_compute(runs, _result),
            "parabolas": plots.isoflop_parabolas(_result) if getattr(_result, "budgets", None) else None,
            "params": plots.loss_vs_params(runs, _result, points),
            "residuals": plots.residuals_figure(_result),
            "bootstrap": plots.bootstrap_figure(_result) if _result.bootstrap_samples else None,
            "tables": plots.chart_tables(runs, _result)}


# --- input ---------------------------------------------------------------------------------------------
uploads = st.file_uploader(f"Run files (CSV, Parquet or JSON lines; up to {io.MAX_UPLOAD_MB} MB each)", type=["csv", "tsv", "txt", "parquet", "jsonl", "json"],
                           accept_multiple_files=True,
                           help="tidy: run, params, tokens or flops, loss[, step, unique_tokens]; wide: a step "
                                "column and one loss column per run")
with st.expander("Wide export: sizes table (run, params[, tokens_per_step])"):
    sizes_upload = st.file_uploader("Sizes table", type=["csv", "tsv", "txt"], key="sizes")
files = tuple((u.name, u.getvalue()) for u in uploads or [])
if not files:
    # A file over the limit is refused by the uploader itself (same limit: .streamlit/config.toml), so say it here.
    st.info(f"No file uploaded (files over {io.MAX_UPLOAD_MB} MB are refused): showing the sample `{SAMPLE.name}` (OLMo ladder loss curves, 5 sizes x 5 token "
            "multiples; source column in the file).")
    files = ((SAMPLE.name, SAMPLE.read_bytes()),)
sizes = (sizes_upload.name, sizes_upload.getvalue()) if sizes_upload else None

try:
    preview, _ = read_preview(*files[0])  # how it was read is in the loaded table's notes
except PlannerError as err:
    st.error(plain(error_sentence(err)))
    st.stop()
with st.expander(plots.preview_label(files[0][0], len(preview)), expanded=False):
    st.dataframe(preview.head(50), hide_index=True)

columns = [AUTO] + [str(c) for c in preview.columns]
with st.expander("Column mapping and filters"):
    mapping = {}
    for col, field in zip(itertools.cycle(st.columns(4)), (f for f in io.FIELDS if f != "run")):
        choice = col.selectbox(field, columns, key=f"map_{field}")
        mapping[field] = None if choice == AUTO else choice
    run_cols = st.multiselect("Run name column(s)", columns[1:], help="several columns are joined, e.g. model + xC")
    split = st.checkbox("Split runs that hold several curves", value=True, key="split",
                        help="when settings (lr, sweep, total_steps, seed, xC...) change inside one run name, or "
                             "tokens go back, the run is split into one run per curve; the notes say how")
    unit_col, step_col = st.columns(2)
    flops_unit = unit_col.number_input("FLOPs per unit of the flops column", min_value=1e-30, value=1.0, format="%g",
                                       help="1e9 when the column is in GFLOPs")
    tokens_per_step = step_col.number_input("Tokens per step (when there is no tokens column)", min_value=0.0,
                                            value=0.0, format="%g")
    run_col = io.find_column(preview.columns, "run")
    text_cols = [c for c in preview.columns if c != run_col and not pd.api.types.is_numeric_dtype(preview[c])
                 and 1 < preview[c].nunique() <= 30]
    filters = {}
    for col in text_cols:
        value = st.selectbox(f"Only rows with {plain(col)} =", [ALL] + sorted(map(str, preview[col].unique())), key=f"f_{col}")
        if value != ALL:
            filters[col] = value

left, right = st.columns([1, 2], gap="large")
with left:
    method = st.selectbox("Method", list(METHODS), index=2, format_func=lambda m: METHODS[m], key="method")
    points = st.radio("Points of each run", ["final", "all", "envelope"], horizontal=True, key="points",
                      help="final: each run's last evaluation (Hoffmann's Approach 3, right for decayed runs); "
                           "all: every point after warmup (intermediate checkpoints overstate the loss); "
                           "envelope: the lowest loss reached so far by each model size")
    boot = st.number_input("Bootstrap resamples", min_value=0, max_value=2000, value=0, step=100, key="boot",
                           help="resampling runs: 0 for none, at least 20 for an interval; 200-1000 gives "
                                "steady 95% intervals")
    seed = st.number_input("Seed", min_value=0, value=0)
    target_text = st.text_input("Target budget (FLOPs)", "1e21", key="target",
                                help="report the optimum at this compute: 1e21, 1e21 FLOPs or 5e3 PF-days; "
                                     "empty for none")
    with st.expander("Approach 3 settings"):
        loss_fn = st.radio("Objective", ["huber", "squared"], horizontal=True)
        delta = st.number_input("Huber delta", min_value=1e-6, max_value=1.0, value=1e-3, format="%g")
        solver = st.radio("Solver", ["varpro", "hoffmann"], horizontal=True, key="solver",
                          help="varpro: E, A, B solved exactly for each (alpha, beta), ~5 starts; hoffmann: the "
                               "4,500-start grid of Hoffmann et al. Same objective, same optimum")
        penalty = st.number_input("Overestimate penalty", min_value=1.0, max_value=1000.0, value=1.0, key="penalty",
                                  help="weight on points the law predicts above their loss; >1 for envelope fits "
                                       "(every observed loss is achievable, so the law should not sit above it)")

try:
    target = parse_target_flops(target_text)
    mapping_model = io.ColumnMapping.model_validate(
        mapping | {"run": run_cols or None, "flops_unit": flops_unit, "tokens_per_step": tokens_per_step or None})
    table = load(files, mapping_model.model_dump_json(), sizes, json.dumps(filters), split)
    options = FitOptions(method=method, points=points, bootstrap=int(boot), seed=int(seed), target_flops=target,
                         loss=loss_fn, delta=delta, solver=solver, overestimate_penalty=penalty)
    if not options.bootstrap:  # the seed only draws bootstrap resamples: without them, a new seed is the same fit
        options = options.model_copy(update={"seed": 0})
    table_json, options_json = table.model_dump_json(), options.model_dump_json()
    result = fit(table_json, options_json)
except (ValueError, ArithmeticError) as err:  # PlannerError, an option's ValidationError, numpy/pandas refusing,
    with right:                                # or a value past what floats hold (an overflow in the solver)
        st.error(plain(error_sentence(err)))
    st.stop()

# --- results -------------------------------------------------------------------------------------------
with right:
    with st.container(border=True, key="trust"):  # how far to trust it, above the numbers
        st.markdown(plots.verdict_line(result))
        for line, why in plots.warning_lines(result):
            st.markdown(line, help=why or None)
    for d in table.dropped:
        st.warning(plain(d.message()))
    for note in table.notes + result.notes:  # table.notes include how each file was read
        st.caption(f":material/info: {plain(note)}")
    (m1, m2), (m3, m4) = st.columns(2), st.columns(2)
    m1.metric("a (N_opt ∝ C^a)", f"{result.a:.3f}" if result.a is not None else "—")
    m2.metric("b (D_opt ∝ C^b)", f"{result.b:.3f}" if result.b is not None else "—")
    m3.metric("points / runs", f"{result.n_points} / {result.n_runs}")
    m4.metric("RMSE (log loss)" if result.method not in ("approach1", "approach2") else "RMSE (log N_opt)",
              f"{result.diagnostics.rmse_log:.4f}" if result.diagnostics else "—")
    if result.optimum:
        st.success(result.optimum.summary())
    st.dataframe(plots.readable_parameter_table(result), hide_index=True, width="stretch")
    if caption := plots.heldout_caption(result):
        st.caption(caption)
    if caption := plots.prediction_caption(result):
        st.caption(caption)
    if result.comparison:
        st.markdown(plots.COMPARISON_HEADING, help=plots.COMPARISON_HELP)
        st.dataframe(plots.comparison_table(result), hide_index=True, width="stretch", key="comparison")

charts = figures(table_json, options_json, points, table, result)
tabs = st.tabs(["Loss vs compute", "IsoFLOP parabolas", "Loss vs N", "Residuals", "Bootstrap"])
tabs[0].plotly_chart(charts["compute"], width="stretch")
if charts["parabolas"] is not None:
    tabs[1].plotly_chart(charts["parabolas"], width="stretch")
else:
    tabs[1].info("Choose Approach 2 to fit IsoFLOP parabolas.")
tabs[2].plotly_chart(charts["params"], width="stretch")
tabs[3].plotly_chart(charts["residuals"], width="stretch")
if charts["bootstrap"] is not None:
    tabs[4].plotly_chart(charts["bootstrap"], width="stretch")
else:
    tabs[4].info("Set bootstrap resamples above 0 to see the distributions of the exponents.")

# --- save and download ---------------------------------------------------------------------------------
st.subheader("Keep this fit")
save_col, download_col = st.columns(2)
with save_col:
    # The suggested name follows the method until the user types a name of their own.
    default_name = f"my-{method.replace('_', '-')}"
    if st.session_state.get("law_name", "") in ("", st.session_state.get("law_name_default")):
        st.session_state["law_name"] = default_name
    st.session_state["law_name_default"] = default_name
    name = st.text_input("Law name", key="law_name",
                         help="the name it will have on the Plan page: letters, digits, '.', '_' or '-'")
    replace = st.checkbox("Replace a saved law of this name", key="law_replace")
    if st.button("Save law for the Plan page"):
        try:
            path = laws.save_law(to_law(result, name), replace=replace)
            st.success(f"Saved '{name}'; pick it on the Plan page or with `python -m planner optimal --law {name}`.")
        except ValueError as err:  # PlannerError (a name that is not allowed, a preset's name)
            st.error(error_sentence(err))
        except OSError as err:  # a full disk, a read-only state directory
            st.error(f"Could not save '{name}': {err.strerror}")
with download_col:
    try:
        law_json = to_law(result, name).model_dump_json(indent=2)
        st.download_button("Download fitted law (JSON)", law_json, file_name=f"{name}.json", mime="application/json",
                           on_click="ignore")
    except ValueError as err:
        st.caption(f"This fit cannot be turned into a law: {error_sentence(err)}")
    # Built on click: the CSV of every uploaded row took ~0.3 s of each rerun at 50k rows. No rerun on a download
    # (on_click="ignore"): a rerun started by one click could drop the next click's file.
    st.download_button("Download full result (JSON)", lambda: result.model_dump_json(indent=2),
                       file_name=f"{name}-fit.json", mime="application/json", on_click="ignore")
    for label, frame in charts["tables"].items():
        st.download_button(f"Chart data: {label} (CSV)", lambda frame=frame: csv_download(frame),
                           file_name=f"{name}-{label}.csv", mime="text/csv", key=f"dl_{label}",
                           on_click="ignore")
