"""Tables and figures of the Models & GPUs page: pure functions of planner.catalog rows and the accelerator table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from planner.core import format as fmt
from planner.core.budget import training_flops
from planner.core.hardware import Accelerator
from planner.catalog import PLAUSIBLE_MFU, ModelRow

from planner.views.style import WIDE_PALETTE as PALETTE
CHINCHILLA_TOKENS_PER_PARAM = 20  # Hoffmann et al. 2022: compute-optimal models see ~20 tokens per parameter


def _sci(x: float | None) -> str | None:
    """3.14e23: compute as people quote it (the grid cannot format floats beyond 2^53 as numbers)."""
    return None if x is None else f"{x:.3g}".replace("e+", "e")


def _shown(write, x: float | None) -> str | None:
    """`x` as planner.core.format writes it (1.3k, 2.1B, $1.2M, 3.5 hours); None stays empty (the grid's "—")."""
    return None if x is None else write(x)


def models_frame(rows: list[ModelRow]) -> pd.DataFrame:
    """One line per model: what was published, what 6ND gives, and the cost on the chosen accelerator.
    Counts, days and dollars are written by planner.core.format, as on every other page."""
    return pd.DataFrame([{
        "model": r.name + (" (unofficial)" if r.estimate else ""),
        "family": r.family,
        "params": _shown(fmt.count, r.params),
        "active params": _shown(fmt.count, r.active_params),
        "tokens": _shown(fmt.count, r.tokens),
        "6ND FLOPs": _sci(r.compute_flops),
        "quoted FLOPs": _sci(r.quoted_compute_flops),
        "quoted vs 6ND": r.compute_disagreement,
        "check": "⚠ off by >25%" if r.compute_flagged else ("✓" if r.compute_disagreement is not None else ""),
        "reported GPU-hours": _shown(fmt.count, r.reported_gpu_hours),
        "reported on": r.reported_accelerator,
        "implied MFU": r.implied_mfu,
        "reported MFU": r.reported_mfu,
        "GPU-hours": _shown(fmt.count, r.cost.gpu_hours if r.cost else None),
        "wall-clock": _shown(fmt.days, r.cost.days if r.cost else None),
        "cost": _shown(fmt.usd, r.cost.usd if r.cost else None),
    } for r in rows])


def models_column_config(column_config) -> dict:
    """Formats for `models_frame` (pass `st.column_config`; this module does not import Streamlit)."""
    num, text = column_config.NumberColumn, column_config.TextColumn
    return {
        "model": text(pinned=True),
        "active params": text(help="per token (MoE)"),
        "6ND FLOPs": text(help="6 x (active) params x tokens"),
        "quoted FLOPs": text(help="a commonly quoted figure; see the sources below"),
        "quoted vs 6ND": num(format="percent", help="quoted / 6ND - 1"),
        "implied MFU": num(format="percent", help="6ND / (reported GPU-hours x dense BF16 peak)"),
        "reported MFU": num(format="percent"),
        "GPU-hours": text(help="on the chosen accelerator at the chosen MFU"),
        "wall-clock": text(help="on the chosen number of GPUs"),
        "cost": text(help="GPU-hours x on-demand price per GPU-hour"),
    }


def sources_frame(rows: list[ModelRow]) -> pd.DataFrame:
    return pd.DataFrame([{"model": r.name, "source": r.source, "quoted compute from": r.quoted_source or "",
                          "note": r.note or ""} for r in rows])


def accelerators_frame(accelerators: list[Accelerator]) -> pd.DataFrame:
    return pd.DataFrame([{
        "accelerator": a.name, "vendor": a.vendor, "16-bit TFLOP/s (dense)": a.bf16_tflops,
        "16-bit type": a.peak_label, "FP8 TFLOP/s (dense)": a.fp8_tflops, "memory (GB)": a.memory_gb,
        "bandwidth (TB/s)": a.bandwidth_tbs,
        "USD / GPU-hour": a.usd_per_hour, "price date": a.price_date, "price source": a.price_source,
        "datasheet": a.source,
    } for a in accelerators])


def accelerators_column_config(column_config) -> dict:
    return {"16-bit TFLOP/s (dense)": column_config.NumberColumn(
                help="the tensor peak MFU is measured against: BF16, or FP16 where the part has no BF16"),
            "16-bit type": column_config.TextColumn(width="medium"),  # room for "FP16 (no BF16)"
            "USD / GPU-hour": column_config.NumberColumn(format="$%.2f"),
            "bandwidth (TB/s)": column_config.NumberColumn(format="%.2f")}


def compute_figure(rows: list[ModelRow]) -> go.Figure:
    """Training compute vs (active) parameters, log-log: 6ND as filled markers, quoted figures as rings,
    with the compute of a Chinchilla-optimal run (20 tokens per parameter) as a reference line."""
    fig = go.Figure()
    known = [r for r in rows if r.compute_flops is not None]
    families = list(dict.fromkeys(r.family for r in known))
    for i, family in enumerate(families):
        members = [r for r in known if r.family == family]
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(
            x=[r.training_params for r in members], y=[r.compute_flops for r in members], mode="markers",
            name=family, legendgroup=family, marker=dict(size=10, color=colour),
            text=[r.name for r in members], customdata=[r.tokens for r in members],
            hovertemplate="%{text}<br>N=%{x:.3s}<br>D=%{customdata:.3s} tokens<br>6ND=%{y:.3e}<extra></extra>"))
        quoted = [r for r in members if r.quoted_compute_flops is not None]
        if quoted:
            fig.add_trace(go.Scatter(
                x=[r.training_params for r in quoted], y=[r.quoted_compute_flops for r in quoted],
                mode="markers", name=f"{family} (quoted)", legendgroup=family, showlegend=False,
                marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color=colour, width=2)),
                text=[r.name for r in quoted], hovertemplate="%{text}<br>quoted=%{y:.3e}<extra></extra>"))
    params = np.geomspace(1e8, 2e12, 50)
    compute = [training_flops(n, CHINCHILLA_TOKENS_PER_PARAM * n) for n in params]
    fig.add_trace(go.Scatter(x=params, y=compute,
                             mode="lines", name="20 tokens/param", line=dict(color="grey", dash="dash"),
                             hovertemplate="N=%{x:.3s}<br>C=%{y:.2e}<extra>20 tokens/param</extra>"))
    fig.update_layout(title="Training compute vs parameters (● 6ND, ○ quoted)", height=560,
                      xaxis=dict(type="log", title="parameters N (active for MoE)"),
                      yaxis=dict(type="log", title="training compute (FLOPs)"),
                      legend=dict(orientation="h", y=-0.2, title="family"), margin=dict(t=50, b=40))
    return fig


def implied_mfu_figure(rows: list[ModelRow]) -> go.Figure:
    """MFU implied by each model's published GPU-hours, with reported MFU where the paper gives one."""
    known = sorted((r for r in rows if r.implied_mfu is not None), key=lambda r: r.implied_mfu)
    fig = go.Figure(go.Bar(
        y=[r.name for r in known], x=[r.implied_mfu for r in known], orientation="h", name="implied by GPU-hours",
        marker_color=["#1f77b4" if r.mfu_plausible else "#d62728" for r in known],
        text=[f"{r.implied_mfu:.0%} on {r.reported_accelerator}" for r in known], textposition="outside",
        hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    reported = [r for r in known if r.reported_mfu is not None]
    if reported:
        fig.add_trace(go.Scatter(y=[r.name for r in reported], x=[r.reported_mfu for r in reported],
                                 mode="markers", name="reported in the paper",
                                 marker=dict(symbol="diamond", size=12, color="black")))
    fig.add_vrect(x0=PLAUSIBLE_MFU[0], x1=PLAUSIBLE_MFU[1], fillcolor="green", opacity=0.07, line_width=0)
    fig.update_layout(title="MFU implied by published GPU-hours (red: outside 25-65%)",
                      xaxis=dict(title="model FLOPs utilisation", tickformat=".0%", range=[0, 0.85]),
                      height=max(300, 28 * len(known) + 120), margin=dict(t=50, b=40, l=10),
                      legend=dict(orientation="h", y=-0.15))
    return fig
