"""The Plan page's headline numbers, summaries, display table, warnings and figures: pure functions of
planner.plan's results."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel

from planner.core import budget, format as fmt, hardware
from planner.core.memory import MAX_GPUS, fits_on
from planner.plan import LawPlan, Plan
from planner.systems.published import REALIZED_RANGE, REALIZED_SHARE
from planner.views.style import colour


class Headline(BaseModel):
    label: str
    value: str
    help: str | None = None


def min_gpus_text(min_gpus: int | None, has_memory: bool) -> str:
    """The fewest GPUs as shown: '—' without a memory estimate (no shape), '> 4,096' when no count up to
    MAX_GPUS fits, never NaN."""
    if not has_memory:
        return "—"
    return f"> {MAX_GPUS:,}" if min_gpus is None else f"{min_gpus:,}"


def headline(p: LawPlan) -> list[Headline]:
    """The ten numbers of a law's plan as the page shows them (formatted; '—' where there is no shape)."""
    mem, inf = p.memory, p.inference
    gpus = min_gpus_text(p.min_gpus, mem is not None)
    return [
        Headline(label="Parameters N*", value=fmt.count(p.allocation.params)),
        Headline(label="Tokens D*", value=fmt.count(p.allocation.tokens)),
        Headline(label="Tokens / parameter", value=fmt.ratio(p.allocation.tokens_per_param)),
        Headline(label="Predicted loss", value=f"{p.allocation.loss:.3f}", help=p.allocation.loss_note or None),
        Headline(label="Cost", value=fmt.usd(p.cost.usd)),
        Headline(label="GPU-hours", value=fmt.count(p.cost.gpu_hours), help=hours_range_note(p.cost)),
        Headline(label="Wall-clock", value=fmt.days(p.cost.days)),
        Headline(label="Memory / GPU", value=fmt.gb(mem.total_gb) if mem else "—",
                 help="; ".join(mem.assumptions) if mem else p.shape_note),
        Headline(label="GPUs needed (min)", value=gpus),
        Headline(label="Serving memory (bf16)", value=fmt.gb(inf.total_gb) if inf else "—"),
    ]


def hours_range_note(cost: budget.Cost) -> str | None:
    """With a predicted MFU: the hours a run would book at the 10th-90th percentile of what published runs reached
    of the best layout's MFU (planner.systems.published)."""
    if cost.gpu_hours_range is None:
        return None
    low, high = cost.gpu_hours_range
    return (f"Likely {fmt.count(low)}–{fmt.count(high)} GPU-hours to train this model on these tokens: planned at "
            f"{cost.mfu:.1%} MFU = {REALIZED_SHARE:.2f} × the {cost.layout_mfu:.1%} predicted for the best layout "
            f"(the median share published runs reached); the range is their 10th–90th percentile "
            f"({REALIZED_RANGE[0]:.2f}–{REALIZED_RANGE[1]:.2f}×), at {cost.goodput:.0%} goodput; "
            f"{cost.gpu_hours_checked}.")


def isoflop_budget_note(result: Plan) -> str | None:
    """Under --mfu auto each law's run buys its own FLOPs; the IsoFLOP curves share the first law's budget."""
    others = [p for p in result.plans[1:] if abs(p.allocation.flops / result.budget.flops - 1) > 0.01]
    if not others:
        return None
    theirs = ", ".join(f"{p.law} {fmt.flops(p.allocation.flops)}" for p in others)
    return (f"Curves drawn around the first law's budget ({fmt.flops(result.budget.flops)}); at their own predicted "
            f"MFU the other runs buy {theirs} (laws table), so their planned sizes sit on a nearby curve.")


def budget_summary(b: budget.Budget, goodput: float | None = None) -> str:
    """One line that states the budget in every unit (markdown). With a predicted MFU (`goodput` given) the MFU
    is the first law's, split into the steady-state MFU the laws table shows and the goodput."""
    assumed = " — GPU count assumed" if b.gpus_assumed else ""
    mfu = (f"{b.mfu / goodput:.1%} MFU × {goodput:.0%} goodput (the first law's run)" if goodput
           else f"{b.mfu:.{0 if b.mfu >= 0.01 else 1}%} MFU")  # 0.001 is 0.1%, not "0%"
    return (f"**Budget:** {fmt.flops(b.flops)} = {fmt.hours(b.gpu_hours)} = {fmt.days(b.days)} on {b.gpus:,} × "
            f"{b.accelerator} at {mfu} = {fmt.usd(b.usd)} (${b.usd_per_gpu_hour:.2f}/GPU-h, price of "
            f"{b.price_date}){assumed}")


def shape_summary(p: LawPlan) -> str:
    """The suggested architecture in one markdown line, with the law it came from."""
    if p.shape is None:
        return f"**Suggested architecture:** — ({p.shape_note}). *{p.citation}*"
    s = p.shape
    return (f"**Suggested architecture** ({s.family}): {s.n_layers} layers, width {s.d_model}, {s.n_heads} heads "
            f"({s.kv_heads} KV), MLP {s.d_ff}, vocab {s.vocab_size:,} → {fmt.count(p.shape_params)} parameters. "
            f"*{p.citation}*")


DISPLAY_COLUMNS = {
    "law": "law", "params": "N*", "tokens": "D*", "tokens_per_param": "tokens/param", "loss": "loss",
    "gpu_hours": "GPU-hours", "days": "days", "usd": "cost (USD)", "memory_per_gpu_gb": "GB/GPU",
    "min_gpus": "min GPUs", "layers": "layers", "d_model": "width", "heads": "heads",
}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table as people read it: counts as 7.0B / 1.4T, money and hours rounded."""
    shown = table[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)
    for column in ("N*", "D*", "GPU-hours"):
        shown[column] = shown[column].map(fmt.count)
    shown["cost (USD)"] = shown["cost (USD)"].map(fmt.usd)
    shown["tokens/param"] = shown["tokens/param"].map(fmt.ratio)
    shown["days"] = table["days"].map(fmt.days)
    shown["min GPUs"] = [min_gpus_text(None if pd.isna(n) else int(n), not pd.isna(mem))
                         for n, mem in zip(table["min_gpus"], table["memory_per_gpu_gb"])]
    if table["mfu"].nunique() > 1:  # a predicted MFU per law: why the same budget buys each law other FLOPs
        shown.insert(shown.columns.get_loc("GPU-hours"), "MFU", table["mfu"].map("{:.1%}".format))
        shown.insert(shown.columns.get_loc("MFU"), "FLOPs", table["flops"].map("{:.3g}".format))
    return shown.round({"loss": 3, "GB/GPU": 1})


def memory_warnings(plan: Plan) -> list[str]:
    """One line per law whose training state does not fit the accelerator on the budget's GPUs."""
    gpu_memory_gb = hardware.get_accelerator(plan.budget.accelerator).memory_gb
    return [f"{p.law}: the training state needs {fmt.gb(p.memory.peak_gb)} per GPU on {plan.budget.gpus:,} GPUs "
            f"(with runtime overheads), more than the {plan.budget.accelerator}'s {gpu_memory_gb:g} GiB; "
            + (f"use at least {p.min_gpus:,} GPUs, more sharding or recomputation" if p.min_gpus else
               f"no GPU count up to {MAX_GPUS:,} fits it with these settings: shard the state (ZeRO-3 / FSDP), "
               "recompute activations, or use a shorter sequence or smaller micro-batch")
            for p in plan.plans if p.memory and not fits_on(p.memory.total_gb, gpu_memory_gb)]


def _sci(x: float) -> str:
    return f"{x:.1e}".replace("e+", "e")


def isoflop_figure(curves: pd.DataFrame, user_flops: float | None = None) -> go.Figure:
    """Loss vs model size for each budget, one panel per law (curves from plan.isoflop_curves, concatenated);
    each curve's optimum is marked. One figure, not one per law: each plotly chart costs the browser ~60 ms to
    draw on every rerun."""
    names = list(dict.fromkeys(curves["law"]))
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names, horizontal_spacing=0.06)
    notes = []
    for col, name in enumerate(names, start=1):
        law_curves = curves[curves["law"] == name]
        for i, (flops, curve) in enumerate(law_curves.groupby("flops", sort=True)):
            hue = colour(i)
            is_user = user_flops is not None and abs(flops / user_flops - 1) < 1e-9
            label = f"{_sci(flops)} FLOPs" + (" (your budget)" if is_user else "")
            fig.add_trace(go.Scatter(x=curve["params"], y=curve["loss"], mode="lines", name=label,
                                     legendgroup=label, showlegend=col == 1,
                                     line=dict(color=hue, width=4 if is_user else 2),
                                     hovertemplate=f"N=%{{x:.3s}}<br>loss=%{{y:.4f}}<extra>{name}</extra>"),
                          row=1, col=col)
            fig.add_trace(go.Scatter(x=[curve["optimal_params"].iloc[0]], y=[curve["optimal_loss"].iloc[0]],
                                     mode="markers", marker=dict(color=hue, size=11, symbol="star"),
                                     legendgroup=label, showlegend=False,
                                     hovertemplate=f"optimum N=%{{x:.3s}}<br>loss=%{{y:.4f}}<extra>{name}</extra>"),
                          row=1, col=col)
        apart = (law_curves["curve_min_params"] / law_curves["optimal_params"] - 1).abs() > 0.15
        if apart.any():
            minima = law_curves[apart].drop_duplicates("flops")
            fig.add_trace(go.Scatter(x=minima["curve_min_params"], y=minima["curve_min_loss"], mode="markers",
                                     name="minimum of L(N, D) on the curve", legendgroup="minimum",
                                     showlegend=not notes,
                                     marker=dict(symbol="circle-open", size=11, color="black"),
                                     hovertemplate="curve minimum N=%{x:.3s}<br>loss=%{y:.4f}<extra></extra>"),
                          row=1, col=col)
            notes.append(name)
        fig.update_xaxes(type="log", title_text="parameters N", row=1, col=col)
    fig.update_yaxes(title_text="predicted loss", row=1, col=1)
    title = "IsoFLOP curves (★ = the law's optimum)"
    if notes:
        title += (f"<br><sup>○ = minimum of the loss curve; {', '.join(notes)}'s allocation (★) is its own fit, "
                  "not derived from the loss form shown</sup>")
    fig.update_layout(title=title, height=440, legend_title="budget", margin=dict(t=80, b=40))
    return fig


def frontier_figure(frontier: pd.DataFrame, user_flops: float | None = None) -> go.Figure:
    """Compute-optimal N* and D* vs compute, the laws side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("optimal parameters N*", "optimal tokens D*"))
    for i, (law, rows) in enumerate(frontier.groupby("law", sort=False)):
        hue = colour(i)
        for col, column in ((1, "params"), (2, "tokens")):
            fig.add_trace(go.Scatter(x=rows["flops"], y=rows[column], mode="lines", name=law,
                                     legendgroup=law, showlegend=col == 1, line=dict(color=hue, width=2),
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
                             marker_color=colour(i)))
    if "gpu_memory_gb" in table:
        fig.add_hline(y=float(table["gpu_memory_gb"].iloc[0]), line_dash="dash", line_color="red",
                      annotation_text="GPU memory", annotation_position="top left")
    fig.update_layout(barmode="stack", title="Training memory per GPU (GB)", yaxis_title="GB", height=380,
                      margin=dict(t=50, b=40))
    return fig
