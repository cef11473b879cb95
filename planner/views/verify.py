"""Figures and tables of the Verify and Runs pages: pure functions of a ladder design or report."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from planner.core.format import duration
from planner.verify.analysis import HoldoutCheck, LadderFit, LadderReport
from planner.verify.design import LadderDesign

from planner.views.runs import BLANK
from planner.views.style import PALETTE, layout


def format_eta(seconds: float | None) -> str:
    return BLANK if seconds is None else duration(seconds)


def method_label(method: str) -> str:
    """'approach3' -> 'Approach 3'."""
    return method.replace("approach", "Approach ")


def _num(value, fmt: str) -> str:
    """A stored metric as text; missing, NaN or infinite (a diverged run) shows as a blank, not 'nan'."""
    return BLANK if value is None or not math.isfinite(value) else format(value, fmt)


def best_holdout_error(check: HoldoutCheck | None) -> tuple[str, float] | None:
    """The approach whose prediction for the held-out run came closest, and its error in percent."""
    if not check or not check.error_pct:
        return None
    method, error = min(check.error_pct.items(), key=lambda kv: abs(kv[1]))
    return method_label(method), error


def _layout(fig: go.Figure, title: str, x: str, y: str, log_x: bool = True, height: int = 400) -> go.Figure:
    return layout(fig, title, x, y, height=height, log_x=log_x)


def _budget_colors(budgets) -> dict[float, str]:
    return {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(sorted(set(budgets)))}


def progress_bar(ladder_id: str, report: LadderReport) -> tuple[float, str]:
    """The bar's value in [0, 1] and its text: 'ladder-…: running — 3/12 runs done, 1 failed'."""
    done = sum(r.status == "done" for r in report.runs)
    failed = sum(r.status == "failed" for r in report.runs)
    state = "finished" if report.finished else "running"
    return min(report.progress, 1.0), (f"{ladder_id}: {state} — {done}/{len(report.runs)} runs done"
                                       + (f", {failed} failed" if failed else ""))


def design_table(design: LadderDesign) -> pd.DataFrame:
    return pd.DataFrame([{"run": r.name, "role": r.role, "budget (FLOPs)": f"{r.budget_flops:.2g}",
                          "params": int(r.params), "layers": r.model.n_layers, "width": r.model.d_model,
                          "tokens": r.tokens, "tokens/param": round(r.tokens / r.params, 1), "steps": r.steps,
                          "from step": f"{r.start_step:,}" if r.parent else "", "starts from": r.parent or "",
                          "est. seconds": round(r.est_seconds, 1)} for r in design.runs])


def design_figure(design: LadderDesign) -> go.Figure:
    """Where the runs sit: model size vs tokens, one colour per budget; IsoFLOP lines run diagonally.
    A WSD design shows each size's stable run as a line and its cooldown branches as points on it."""
    if design.design == "wsd":
        return _wsd_design_figure(design)
    colors = _budget_colors(r.budget_flops for r in design.runs)
    fig = go.Figure()
    for budget, color in colors.items():
        runs = [r for r in design.runs if r.budget_flops == budget]
        holdout = runs[0].role == "holdout"
        fig.add_trace(go.Scatter(x=[r.params for r in runs], y=[r.tokens for r in runs], mode="markers+lines",
                                 name=("held-out " if holdout else "") + f"C = {budget:.2g}",
                                 marker=dict(color=color, size=11, symbol="star" if holdout else "circle")))
    fig.update_yaxes(type="log")
    return _layout(fig, "Ladder design: each line is one FLOP budget", "parameters N", "tokens D")


def _wsd_design_figure(design: LadderDesign) -> go.Figure:
    fig = go.Figure()
    stables = [r for r in design.runs if r.role == "stable"]
    for i, stable in enumerate(stables):
        color = PALETTE[i % len(PALETTE)]
        branches = [r for r in design.runs if r.parent == stable.name]
        # the stable run from its first step to its last checkpoint; each cooldown ends at its dot
        fig.add_trace(go.Scatter(x=[stable.params] * 2, y=[stable.tokens / stable.steps, stable.tokens],
                                 mode="lines", line=dict(color=color, width=6), opacity=0.3,
                                 name=f"stable run, {stable.params:.3g} params"))
        fig.add_trace(go.Scatter(x=[b.params for b in branches], y=[b.tokens for b in branches], mode="markers",
                                 marker=dict(color=color, size=10), name=f"cooldowns ({len(branches)})"))
    for r in design.runs:
        if r.role == "holdout":
            fig.add_trace(go.Scatter(x=[r.params], y=[r.tokens], mode="markers", name=f"held-out C = {r.budget_flops:.2g}",
                                     marker=dict(color="black", size=13, symbol="star")))
    fig.update_yaxes(type="log")
    return _layout(fig, "WSD design: one stable run per size (bar), a cooldown ending at each horizon (dot)",
                   "parameters N", "tokens D")


def status_table(report: LadderReport) -> pd.DataFrame:
    return pd.DataFrame([{"job": r.job_id, "run": r.name, "role": r.role, "status": r.status,
                          "progress": r.progress, "params": int(r.params), "tokens": r.tokens,
                          "final loss": _num(r.final_loss, ".4f"),
                          "tokens/s": _num(r.tokens_per_s, ",.0f"),
                          "MFU": _num(r.mfu, ".1%"),
                          "error": r.error or ""} for r in report.runs])


def loss_curves_figure(curves: dict[str, list[dict]], budgets: dict[str, float]) -> go.Figure:
    """Training loss (lines) and held-out loss (dots) against tokens seen, one colour per budget."""
    colors = _budget_colors(budgets.values())
    fig = go.Figure()
    for name, rows in curves.items():
        rows = [m for m in rows if "tokens" in m and "loss" in m]  # a metric row of another kind has no curve
        if not rows:
            continue
        color = colors[budgets[name]]
        fig.add_trace(go.Scatter(x=[m["tokens"] for m in rows], y=[m["loss"] for m in rows], mode="lines",
                                 name=name, line=dict(color=color, width=1.5), legendgroup=name))
        evals = [m for m in rows if "eval_loss" in m]
        fig.add_trace(go.Scatter(x=[m["tokens"] for m in evals], y=[m["eval_loss"] for m in evals],
                                 mode="markers", marker=dict(color=color, size=6), legendgroup=name,
                                 showlegend=False, name=f"{name} (held-out)"))
    return _layout(fig, "Loss curves (lines: training, dots: held-out)", "tokens seen", "loss (nats/token)")


def isoflop_figure(report: LadderReport) -> go.Figure:
    """Final held-out loss against size for each budget, with the fitted parabola and its minimum."""
    runs = [r for r in report.runs if r.final_loss is not None]
    colors = _budget_colors(r.budget_flops for r in report.runs)
    fig = go.Figure()
    for budget, color in colors.items():
        pts = [r for r in runs if r.budget_flops == budget]
        if not pts:
            continue
        holdout = pts[0].role == "holdout"
        fig.add_trace(go.Scatter(x=[r.params for r in pts], y=[r.final_loss for r in pts], mode="markers",
                                 name=("held-out run" if holdout else f"C = {budget:.2g}"),
                                 marker=dict(color=color, size=14 if holdout else 9,
                                             symbol="star" if holdout else "circle")))
    for b in report.fit.approach2.budgets if report.fit.approach2 else []:
        if not b.coefficients:
            continue
        x = np.linspace(np.log(min(b.params)), np.log(max(b.params)), 50)
        c0, c1, c2 = b.coefficients
        fig.add_trace(go.Scatter(x=np.exp(x), y=c0 + c1 * x + c2 * x**2, mode="lines", showlegend=False,
                                 line=dict(color=colors.get(b.flops, "grey"), dash="solid" if b.accepted else "dot")))
        if b.accepted:
            fig.add_trace(go.Scatter(x=[b.params_opt], y=[b.loss_opt], mode="markers", showlegend=False,
                                     marker=dict(color=colors.get(b.flops, "grey"), symbol="x", size=12),
                                     name=f"optimum at C = {b.flops:.2g}"))
    return _layout(fig, "IsoFLOP parabolas per budget (× = fitted optimum)",
                   "parameters N", "final held-out loss")


def fit_figure(report: LadderReport) -> go.Figure:
    """The fitted points: IsoFLOP parabolas, or for a WSD ladder each size's cooldown losses."""
    return wsd_fit_figure(report) if report.design == "wsd" else isoflop_figure(report)


def wsd_fit_figure(report: LadderReport) -> go.Figure:
    """Final held-out loss of each cooldown branch against tokens, one colour per model size, with the
    Approach 3 law L(N, D) fitted to them drawn through each size's points."""
    fig, p = go.Figure(), report.fit.approach3
    parents = sorted({r.parent for r in report.runs if r.parent}, key=lambda n: next(
        r.params for r in report.runs if r.parent == n))
    for i, parent in enumerate(parents):
        color = PALETTE[i % len(PALETTE)]
        pts = [r for r in report.runs if r.parent == parent and r.final_loss is not None]
        if not pts:
            continue
        n = pts[0].params
        fig.add_trace(go.Scatter(x=[r.tokens for r in pts], y=[r.final_loss for r in pts], mode="markers",
                                 marker=dict(color=color, size=9), name=f"N = {n:.3g}"))
        if p is not None:
            d = np.geomspace(min(r.tokens for r in pts), max(r.tokens for r in pts), 40)
            fig.add_trace(go.Scatter(x=d, y=p.E + p.A / n**p.alpha + p.B / d**p.beta, mode="lines",
                                     line=dict(color=color), showlegend=False))
    for r in report.runs:
        if r.role == "holdout" and r.final_loss is not None:
            fig.add_trace(go.Scatter(x=[r.tokens], y=[r.final_loss], mode="markers", name="held-out run",
                                     marker=dict(color="black", size=14, symbol="star")))
    return _layout(fig, "Cooldown losses per size (lines: fitted L(N, D))", "tokens D", "final held-out loss")


def exponents_figure(fit: LadderFit) -> go.Figure:
    """Fitted a (N_opt ∝ C^a) from each approach beside the published exponents."""
    rows = [{"source": f"this ladder ({method_label(name)})", "a": res.a, "kind": "fitted"}
            for name, res in (("approach2", fit.approach2), ("approach3", fit.approach3))
            if res and res.a is not None]
    rows += [{"source": p.law, "a": p.a, "kind": "published"} for p in fit.published]
    fig = go.Figure(go.Bar(x=[r["a"] for r in rows], y=[r["source"] for r in rows], orientation="h",
                           marker_color=["#d95f02" if r["kind"] == "fitted" else "#7570b3" for r in rows],
                           text=[f"{r['a']:.2f}" for r in rows], textposition="outside"))
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, "Exponent a of N_opt ∝ C^a (b = 1 − a): fitted vs published", "a", "", log_x=False,
                   height=320)


def holdout_figure(check: HoldoutCheck) -> go.Figure:
    """What the small runs predicted for the held-out run, beside what it measured. The y-axis starts
    at 0 so bar heights compare honestly; each prediction's error is written on its bar."""
    labels = [f"predicted ({method_label(k)})" for k in check.predicted_loss]
    values = list(check.predicted_loss.values())
    texts = [f"{v:.3f}" + (f" ({check.error_pct[k]:+.1f}%)" if k in check.error_pct else "")
             for k, v in check.predicted_loss.items()]
    if check.measured_loss is not None:
        labels.append("measured")
        values.append(check.measured_loss)
        texts.append(f"{check.measured_loss:.3f}")
    fig = go.Figure(go.Bar(x=labels, y=values, text=texts, textposition="outside",
                           marker_color=["#7570b3"] * len(check.predicted_loss) + ["#1b9e77"]))
    fig.update_yaxes(range=[0, max(values, default=1) * 1.15])
    return _layout(fig, f"Held-out run ({check.params:.3g} params, {check.tokens:.3g} tokens): "
                   "predicted (error vs measured) and measured loss", "", "loss (nats/token)", log_x=False, height=320)

