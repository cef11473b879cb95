"""Tables and figures of the parallel layout (Plan page): pure functions of planner.systems results."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from planner.core.budget import Budget
from planner.core.hardware import Accelerator
from planner.plan import LawPlan
from planner.systems import throughput
from planner.systems.goodput import DEFAULT_GOODPUT, GOODPUT_SOURCE
from planner.systems.layout import LayoutResult, ParallelPlan, recompute_label
from planner.systems.published import (REALIZED_SHARE, REALIZED_SOURCE, check_all, check_memory, published_memory,
                                       summarise)

PARTS = {"compute_s": ("compute", "#4477AA"), "memory_s": ("memory-bound ops", "#CCBB44"),
         "communication_s": ("communication", "#EE6677"), "bubble_s": ("pipeline bubble", "#AA3377"),
         "overhead_s": ("other overhead", "#BBBBBB")}
CALIBRATION = "fitted on the calibration rows of data/published_runs.csv (benchmarks/bench_systems.py --calibrate)"


def layout_headline(p: LawPlan, b: Budget, mfu_auto: bool) -> str:
    """One markdown line above the layout section: whose model, which layout, on what, and what the MFU is used for."""
    if mfu_auto:
        use = (f"cost planned at {p.cost.mfu:.1%} MFU: {REALIZED_SHARE:.2f} × the predicted {p.layout.mfu:.1%}, "
               "the share of the best layout's MFU that published runs reached (median)")
    else:
        use = "predicted MFU shown; cost uses the slider"
    return f"**{p.law}**: {layout_label(p.layout)} on {b.gpus:,} × {b.accelerator} — {use}"


def no_layout_message(p: LawPlan, b: Budget) -> str:
    return f"No parallel layout for {p.law}'s model on {b.gpus:,} × {b.accelerator}: {p.layout_note or p.shape_note}"


def layout_label(r: LayoutResult) -> str:
    ep = f" EP{r.ep}" if r.ep > 1 else ""
    chunks = f" v{r.interleave}" if r.interleave > 1 else ""
    return f"TP{r.tp} PP{r.pp}{chunks} DP{r.dp}{ep} Z{r.zero_stage} mb{r.micro_batch} {recompute_label(r)}"


def time_figure(plan: ParallelPlan, others: int = 4) -> go.Figure:
    """Where each step's time goes, for the chosen layout and the next fastest that fit (share of the step)."""
    rows = [plan, *[a for a in plan.alternatives if a.fits][:others]]
    labels = [("★ " if i == 0 else "") + layout_label(r) for i, r in enumerate(rows)]
    fig = go.Figure()
    for key, (name, colour) in PARTS.items():
        shares = [getattr(r.breakdown, key) / r.step_seconds for r in rows]
        fig.add_trace(go.Bar(y=labels, x=shares, name=name, orientation="h", marker_color=colour,
                             hovertemplate=f"{name}: %{{x:.1%}} of the step<extra></extra>"))
    fig.update_layout(barmode="stack", title="Where a training step's time goes (★ = chosen layout)",
                      xaxis=dict(title="share of the step", tickformat=".0%"), yaxis=dict(autorange="reversed"),
                      height=140 + 45 * len(rows), legend=dict(orientation="h", y=-0.25), margin=dict(l=10))
    return fig


def alternatives_table(plan: ParallelPlan) -> pd.DataFrame:
    return pd.DataFrame([{"layout": layout_label(a), "MFU": round(a.mfu, 3),
                          "tokens/s/GPU": round(a.tokens_per_s_per_gpu), "GB/GPU (peak)": round(a.peak_gb, 1),
                          "why it lost": a.why_not} for a in plan.alternatives])


def constants_table(acc: Accelerator) -> pd.DataFrame:
    """Every constant the throughput model used, with where it comes from."""
    rows = [
        ("dense BF16 peak (TFLOP/s)", acc.bf16_tflops, acc.source),
        ("matmul efficiency (MAMF / peak)", acc.matmul_efficiency, acc.matmul_source),
        ("HBM bandwidth (TB/s)", acc.bandwidth_tbs, acc.source),
        ("intra-node bandwidth (GB/s per GPU, each way)", acc.intra_node_gbs, acc.interconnect_source),
        ("inter-node bandwidth (GB/s per GPU, each way)", acc.inter_node_gbs, acc.interconnect_source),
        ("GPUs per node", acc.node_size, acc.interconnect_source),
        ("matmul size knee (width)", throughput.SIZE_KNEE, CALIBRATION),
        ("attention efficiency (x matmul)", throughput.ATTENTION_EFFICIENCY, CALIBRATION),
        ("element-wise bytes per token·layer·width", throughput.ELEMENTWISE_BYTES, CALIBRATION),
        ("unmodelled overhead (share of step)", throughput.OVERHEAD, CALIBRATION),
        ("default goodput", DEFAULT_GOODPUT, GOODPUT_SOURCE),
        ("realized share of the best layout's MFU (auto)", REALIZED_SHARE, REALIZED_SOURCE),
    ]
    return pd.DataFrame([{"constant": n, "value": v, "source": s} for n, v, s in rows])


def layout_metrics(plan: ParallelPlan) -> list[tuple[str, str]]:
    """The ten numbers of a layout as the page shows them."""
    return [("Tensor parallel", str(plan.tp)), ("Pipeline parallel", str(plan.pp)), ("Data parallel", str(plan.dp)),
            ("Expert parallel", str(plan.ep)), ("ZeRO stage", str(plan.zero_stage)),
            ("Micro-batch", str(plan.micro_batch)), ("Recompute", recompute_label(plan)),
            ("Memory / GPU (peak)", f"{plan.peak_gb:.1f} GB"), ("Predicted MFU", f"{plan.mfu:.1%}"),
            ("Tokens/s per GPU", f"{plan.tokens_per_s_per_gpu:,.0f}")]


def accuracy_note() -> str:
    """How far to trust the predicted MFU, from the held-out published runs."""
    held = summarise(check_all(), "held-out")
    memory = [abs(c.error) for c in map(check_memory, published_memory()) if c.comparable]
    return (f"Predicted MFU vs {held.runs} published runs not used for fitting: median error "
            f"{held.median_abs_points:.1f} points, {held.within_5_points} of {held.runs} within 5 points, worst "
            f"{held.max_abs_points:.0f}. Memory per GPU vs {len(memory)} published pretraining peaks: mean error "
            f"{sum(memory) / len(memory):.0%}, worst {max(memory):.0%} (benchmarks/RESULTS.md).")
