"""Figures and tables of the Adapt page: pure functions of planner.adapt.estimate / planner.adapt.measure results."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from planner.adapt.estimate import AdaptComparison, usable_gb
from planner.adapt.measure import AdaptRunResult, MethodRun
from planner.adapt.methods import REGISTRY
from planner.adapt.validation import expected_error, validate_memory
from planner.core import format as fmt
from planner.core.hardware import get_accelerator
from planner.views.runs import job_summary
from planner.views.style import PALETTE  # the memory parts' colours; each method has its own (its class)

MEMORY_PARTS = [("weights_gb", "weights"), ("adapter_gb", "adapter weights"), ("grads_gb", "gradients"),
                ("optimizer_gb", "optimizer states"), ("activations_gb", "activations")]


def _colour(method: str) -> str:
    return REGISTRY[method].colour if method in REGISTRY else "grey"  # a method no longer registered


def _label(method: str) -> str:
    return REGISTRY[method].label if method in REGISTRY else method


# ---------------------------------------------------------------------------------------------- estimates
def cost_table(comparison: AdaptComparison) -> pd.DataFrame:
    """One row per method: what it trains, what it needs, what it costs, whether it fits.
    Counts and dollars as planner.core.format writes them everywhere (7.0B, $2.6k)."""
    rows = []
    for e in comparison.estimates:
        rows.append({"method": _label(e.method), "trainable params": fmt.count(e.trainable_params),
                     "trainable %": e.trainable_percent, "memory per GPU (GB)": e.memory_gb,
                     "fits one GPU": "yes" if e.fits_one_gpu else "no",
                     "FLOPs / token": e.flops_per_token, "GPU-hours": fmt.count(e.gpu_hours),
                     "cost": fmt.usd(e.usd),
                     "cheapest": "★" if e.method == comparison.cheapest_fitting else "",
                     "expected mem. error": memory_error_label(e.method)})
    return pd.DataFrame(rows)


def memory_error_label(method: str) -> str:
    """'±4% (2 held-out runs)': the worst memory error of this method's validated runs."""
    expected = expected_error(method)
    if expected.max_abs_error is None:
        return "not validated"
    runs = "run" if expected.runs == 1 else "runs"
    return f"±{expected.max_abs_error:.0%} ({expected.runs} {expected.split} {runs})"


def validation_caption() -> str:
    """The memory estimate's error on published measurements, by split (data/adapt_memory_measurements.csv)."""
    v = validate_memory()
    return (f"Memory estimates vs published peaks (data/adapt_memory_measurements.csv): "
            f"{v.held_out.runs} runs never used for calibration (fms-acceleration, A100-80GB: LoRA, QLoRA, full "
            f"fine-tuning) err by {v.held_out.mean_abs_error:.0%} on average, {v.held_out.max_abs_error:.0%} at "
            f"worst; the {v.calibration.runs} calibration runs (peft's Llama-3.2-3B comparison) by "
            f"{v.calibration.mean_abs_error:.0%}, {v.calibration.max_abs_error:.0%} at worst.")


def invalid_methods(comparison: AdaptComparison) -> list[str]:
    """One line per message for the methods left out of the comparison ("LoRA, QLoRA: rank must be ...")."""
    by_message: dict[str, list[str]] = {}
    for method, message in comparison.invalid.items():
        by_message.setdefault(message, []).append(_label(method))
    return [f"{', '.join(labels)}: {message}" for message, labels in by_message.items()]


def memory_breakdown_figure(comparison: AdaptComparison) -> go.Figure:
    """Estimated memory per GPU by component for every method, with the GPU's capacity."""
    methods = [_label(e.method) for e in comparison.estimates]
    fig = go.Figure()
    for i, (key, name) in enumerate(MEMORY_PARTS):
        fig.add_trace(go.Bar(x=methods, y=[getattr(e.memory, key) for e in comparison.estimates], name=name,
                             marker_color=PALETTE[i], hovertemplate="%{x}: %{y:.2f} GB<extra>" + name + "</extra>"))
    # the fit check's threshold in the chart's unit (1e9 bytes): the card's GiB, less allocator and context overhead
    limit = usable_gb(get_accelerator(comparison.accelerator))
    fig.add_hline(y=limit, line_dash="dash", line_color="firebrick",
                  annotation_text=f"fits one {comparison.accelerator} below {limit:.1f} GB "
                                  f"({comparison.estimates[0].accelerator_memory_gb:.0f} GiB card)")
    fig.update_layout(barmode="stack", title=f"Estimated memory per GPU — {comparison.model}",
                      yaxis_title="GB (1e9 bytes)", height=420, margin=dict(t=50, b=40), legend_title="part")
    return fig


def _mark_untrained(fig: go.Figure, labels: list[str], xref: str = "x", yref: str = "y domain") -> None:
    """A log axis cannot draw a zero bar: say so at the method's place instead of leaving a silent gap."""
    for label in labels:
        fig.add_annotation(x=label, y=0, xref=xref, yref=yref, yanchor="bottom", showarrow=False,
                           text="0 trainable<br>(no training)", font=dict(color="grey"))


def trainable_figure(comparison: AdaptComparison) -> go.Figure:
    """Trainable parameters per method (log scale: they span six orders of magnitude); a method that trains
    nothing (zero-shot) keeps its place on the axis with a "0 trainable" note."""
    ests = comparison.estimates
    fig = go.Figure(go.Bar(x=[_label(e.method) for e in ests],
                           y=[e.trainable_params or None for e in ests],
                           marker_color=[_colour(e.method) for e in ests],
                           text=[f"{e.trainable_percent:.3g}%" if e.trainable_params else "" for e in ests],
                           textposition="outside", hovertemplate="%{x}: %{y:.3s} params<extra></extra>"))
    _mark_untrained(fig, [_label(e.method) for e in ests if not e.trainable_params])
    fig.update_layout(title="Trainable parameters (label: % of the model)", yaxis_type="log",
                      yaxis_title="parameters", height=380, margin=dict(t=50, b=40))
    return fig


# ---------------------------------------------------------------------------------------------- measured
def comparison_label(job) -> str:
    """'job 7 — tiny on cpu — done'. A comparison on a verification run's weights names that run: its preset
    field was ignored (the run's own model replaced it)."""
    base_job = job.spec.get("base_job")
    base = f"verification job {base_job}" if base_job is not None else job_summary(job).preset
    return f"job {job.id} — {base} on {job.device} — {job.status}"


def _done(result: AdaptRunResult) -> list[MethodRun]:
    return [r for r in result.runs if r.done]


def skipped_lines(result: AdaptRunResult) -> list[str]:
    """One line per method that did not run, with why."""
    return [f"{_label(r.method)}: {r.status}" for r in result.runs if not r.done]


def memory_sources_caption(result: AdaptRunResult) -> str:
    sources = sorted({r.memory_source for r in result.runs if r.memory_source})
    return ("Measured memory: " + "; ".join(sources) + ". On CPU there is no allocator peak, so backward-pass "
            "transients are not in the measurement but are in the estimate.")


def eval_curves_figure(result: AdaptRunResult) -> go.Figure:
    """Held-out loss per method vs wall-clock seconds and vs GPU-hours (one device: hours = seconds/3600)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("vs wall-clock", "vs GPU-hours"))  # one device
    for run in _done(result):
        curve = run.eval_curve
        if not curve:
            continue
        seconds = [p["seconds"] for p in curve]
        loss = [p["eval_loss"] for p in curve]
        style = dict(color=_colour(run.method), width=2)
        mode = "lines+markers" if len(curve) > 1 else "markers"
        fig.add_trace(go.Scatter(x=seconds, y=loss, mode=mode, name=_label(run.method), line=style,
                                 legendgroup=run.method), row=1, col=1)
        fig.add_trace(go.Scatter(x=[s / 3600 for s in seconds], y=loss, mode=mode, line=style,
                                 legendgroup=run.method, showlegend=False), row=1, col=2)
    fig.update_xaxes(title_text="seconds", row=1, col=1)
    fig.update_xaxes(title_text="device-hours (1 GPU, or the CPU)", row=1, col=2)
    fig.update_yaxes(title_text="held-out loss (nats/token)", row=1, col=1)
    fig.update_layout(title="Eval loss per method", height=420, margin=dict(t=70, b=40))
    return fig


def measured_bars_figure(result: AdaptRunResult) -> go.Figure:
    """Measured peak memory and trainable parameters per method."""
    runs = [r for r in _done(result) if r.peak_memory_gb is not None]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("peak memory (GB)", "trainable parameters"))
    labels, colours = [_label(r.method) for r in runs], [_colour(r.method) for r in runs]
    fig.add_trace(go.Bar(x=labels, y=[r.peak_memory_gb for r in runs], marker_color=colours,
                         showlegend=False, hovertemplate="%{x}: %{y:.4g} GB<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=labels, y=[r.trainable_params or None for r in runs], marker_color=colours,
                         showlegend=False, hovertemplate="%{x}: %{y:.3s}<extra></extra>"), row=1, col=2)
    _mark_untrained(fig, [_label(r.method) for r in runs if not r.trainable_params], "x2", "y2 domain")
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(height=380, margin=dict(t=60, b=40))
    return fig


def estimate_error_table(result: AdaptRunResult) -> pd.DataFrame:
    """Estimated vs measured, per method: trainable params, memory, and throughput relative to full FT
    (estimated as the FLOP ratio, so it does not depend on the device's peak)."""
    runs = _done(result)
    full = next((r for r in runs if r.method in REGISTRY and REGISTRY[r.method].is_reference and r.tokens_per_s),
                None)
    rows = []
    for r in runs:
        row = {"method": _label(r.method), "trainable (est.)": r.estimated_trainable_params,
               "trainable (measured)": r.trainable_params, "memory GB (est.)": r.estimated_memory_gb,
               "memory GB (measured)": r.peak_memory_gb,
               "memory error %": 100 * (r.estimated_memory_gb / r.peak_memory_gb - 1)
               if r.peak_memory_gb else None}
        if full and r.tokens_per_s:
            row["speed vs full (est.)"] = full.estimated_flops_per_token / r.estimated_flops_per_token
            row["speed vs full (measured)"] = r.tokens_per_s / full.tokens_per_s
        rows.append(row)
    return pd.DataFrame(rows)


def estimate_vs_measured_figure(result: AdaptRunResult) -> go.Figure:
    """Estimated against measured memory and relative throughput; the diagonal is a perfect estimate."""
    table = estimate_error_table(result)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("peak memory (GB)", "throughput relative to full FT"))
    pairs = [(1, "memory GB (measured)", "memory GB (est.)"),
             (2, "speed vs full (measured)", "speed vs full (est.)")]
    for col, measured, estimated in pairs:
        if measured not in table or table[measured].isna().all():
            continue
        rows = table.dropna(subset=[measured, estimated])
        fig.add_trace(go.Scatter(x=rows[measured], y=rows[estimated], mode="markers+text", text=rows["method"],
                                 textposition="top center", marker=dict(size=10), showlegend=False),
                      row=1, col=col)
        top = float(max(rows[measured].max(), rows[estimated].max())) * 1.1
        fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line=dict(dash="dot", color="grey"),
                                 showlegend=False, hoverinfo="skip"), row=1, col=col)
        fig.update_xaxes(title_text="measured", row=1, col=col)
        fig.update_yaxes(title_text="estimated", row=1, col=col)
    fig.update_layout(title="Estimator vs measurement (on the dotted line = exact)", height=420,
                      margin=dict(t=70, b=40))
    return fig
