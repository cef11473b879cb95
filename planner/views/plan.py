"""Figures of the Plan page: pure functions of planner.plan's tables."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from planner.views.style import PALETTE


def _sci(x: float) -> str:
    return f"{x:.1e}".replace("e+", "e")


def isoflop_figure(curves: pd.DataFrame, user_flops: float | None = None) -> go.Figure:
    """Loss vs model size for each budget of one law; the optimum of each curve is marked."""
    fig = go.Figure()
    for i, (flops, curve) in enumerate(curves.groupby("flops", sort=True)):
        colour = PALETTE[i % len(PALETTE)]
        is_user = user_flops is not None and abs(flops / user_flops - 1) < 1e-9
        name = f"{_sci(flops)} FLOPs" + (" (your budget)" if is_user else "")
        fig.add_trace(go.Scatter(x=curve["params"], y=curve["loss"], mode="lines", name=name,
                                 line=dict(color=colour, width=4 if is_user else 2),
                                 hovertemplate="N=%{x:.3s}<br>loss=%{y:.4f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[curve["optimal_params"].iloc[0]], y=[curve["optimal_loss"].iloc[0]],
                                 mode="markers", marker=dict(color=colour, size=11, symbol="star"),
                                 showlegend=False, hovertemplate="optimum N=%{x:.3s}<br>loss=%{y:.4f}<extra></extra>"))
    law = curves["law"].iloc[0] if len(curves) else ""
    title = f"IsoFLOP curves — {law} (★ = the law's optimum)"
    apart = (curves["curve_min_params"] / curves["optimal_params"] - 1).abs() > 0.15
    if apart.any():
        minima = curves[apart].drop_duplicates("flops")
        fig.add_trace(go.Scatter(x=minima["curve_min_params"], y=minima["curve_min_loss"], mode="markers",
                                 name="minimum of L(N, D) on the curve",
                                 marker=dict(symbol="circle-open", size=11, color="black"),
                                 hovertemplate="curve minimum N=%{x:.3s}<br>loss=%{y:.4f}<extra></extra>"))
        title += ("<br><sup>○ = minimum of the loss curve; this law's allocation (★) is its own fit, "
                  "not derived from the loss form shown</sup>")
    fig.update_layout(title=title, xaxis_title="parameters N",
                      yaxis_title="predicted loss", xaxis_type="log", height=420, legend_title="budget",
                      margin=dict(t=50, b=40))
    return fig


def frontier_figure(frontier: pd.DataFrame, user_flops: float | None = None) -> go.Figure:
    """Compute-optimal N* and D* vs compute, the laws side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("optimal parameters N*", "optimal tokens D*"))
    for i, (law, rows) in enumerate(frontier.groupby("law", sort=False)):
        colour = PALETTE[i % len(PALETTE)]
        for col, column in ((1, "params"), (2, "tokens")):
            fig.add_trace(go.Scatter(x=rows["flops"], y=rows[column], mode="lines", name=law,
                                     legendgroup=law, showlegend=col == 1, line=dict(color=colour, width=2),
                                     hovertemplate=f"C=%{{x:.2e}}<br>{column}=%{{y:.3s}}<extra>{law}</extra>"),
                          row=1, col=col)
    if user_flops is not None:
        for col in (1, 2):
            fig.add_vline(x=user_flops, line_dash="dot", line_color="grey", row=1, col=col)
    fig.update_xaxes(type="log", title_text="training compute C (FLOPs)")
    fig.update_yaxes(type="log")
    fig.update_layout(title="Compute-optimal frontier by law (dotted: your budget)", height=420,
                      margin=dict(t=70, b=40))
    return fig


def memory_figure(table: pd.DataFrame) -> go.Figure:
    """Training memory per GPU by component, one bar per law."""
    parts = ["weights_gb", "grads_gb", "optimizer_gb", "activations_gb"]
    fig = go.Figure()
    for i, part in enumerate(parts):
        fig.add_trace(go.Bar(x=table["law"], y=table[part], name=part.removesuffix("_gb"),
                             marker_color=PALETTE[i % len(PALETTE)]))
    if "gpu_memory_gb" in table:
        fig.add_hline(y=float(table["gpu_memory_gb"].iloc[0]), line_dash="dash", line_color="red",
                      annotation_text="GPU memory", annotation_position="top left")
    fig.update_layout(barmode="stack", title="Training memory per GPU (GB)", yaxis_title="GB", height=380,
                      margin=dict(t=50, b=40))
    return fig
