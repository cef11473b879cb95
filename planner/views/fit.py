"""Figures and chart tables of the Fit page: pure functions of the uploaded runs and a fit result."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from planner.core import format as fmt
from planner.fitting import AllocationFit, DataConstrainedFit, FitResult, KaplanFit, ParametricFit, select_points
from planner.fitting.core import law_of
from planner.core.laws import PRESETS
from planner.views.export import plain, plotly_text  # run names come from uploads: text, not HTML or Markdown

from planner.views.style import PALETTE, layout
COMPARE = ("hoffmann2022", "besiroglu2024")  # published laws drawn for comparison


def _log_layout(fig: go.Figure, title: str, x: str, y: str, log_y: bool = False) -> go.Figure:
    return layout(fig, title, x, y, log_x=True, log_y=log_y)


COMPARISON_HEADING = "**Method comparison** (every applicable approach on the same runs)"
COMPARISON_HELP = "a, b and the optimum at the target from each approach; when they disagree, the trust panel says so"


def preview_label(file_name: str, rows: int) -> str:
    """The preview expander's title; the file name is upload content, so it is shown as plain text."""
    return f"Preview of {plain(file_name)} ({rows:,} row{'' if rows == 1 else 's'})"


def frontier_table(runs: pd.DataFrame, result: FitResult, compare: tuple[str, ...] = COMPARE) -> pd.DataFrame:
    """Compute-optimal loss (or size) along a log grid of budgets: the fit and the published laws."""
    flops = np.geomspace(runs["flops"].min(), runs["flops"].max() * 30, 60)
    rows = []
    laws = {"fitted": law_of(result)} | {name: PRESETS[name] for name in compare}
    for label, law in laws.items():
        if law is None:
            continue
        optima = law.optima(flops)
        if not optima:
            continue
        no_loss = label == "fitted" and isinstance(result, AllocationFit)  # that loss is another law's
        rows.append(pd.DataFrame({"law": label, "flops": [o.flops for o in optima],
                                  "params": [o.params for o in optima], "tokens": [o.tokens for o in optima],
                                  "loss": [np.nan if no_loss else o.loss for o in optima]}))
    if not rows:  # runs too small for any law's optimum: the chart shows the runs alone
        return pd.DataFrame(columns=["law", "flops", "params", "tokens", "loss"])
    return pd.concat(rows, ignore_index=True)


def loss_vs_compute(runs: pd.DataFrame, result: FitResult) -> go.Figure:
    """Every evaluation (loss vs compute, one colour per run) with the fitted compute-optimal frontier."""
    fig = go.Figure()
    frontier = frontier_table(runs, result)
    colours = {"fitted": "black", "hoffmann2022": "#d62728", "besiroglu2024": "#ff7f0e"}
    for label, grp in frontier.groupby("law", sort=False):
        if grp["loss"].notna().any():
            fig.add_trace(go.Scatter(x=grp["flops"], y=grp["loss"], mode="lines", name=f"{label} frontier",
                                     line=dict(width=3 if label == "fitted" else 1.5,
                                               dash="solid" if label == "fitted" else "dot",
                                               color=colours.get(label))))
    for i, (run, grp) in enumerate(runs.groupby("run", sort=False)):
        grp = grp.sort_values("flops")
        fig.add_trace(go.Scatter(x=grp["flops"], y=grp["loss"], mode="lines+markers" if len(grp) > 1 else "markers",
                                 name=plotly_text(run), legendgroup="runs", showlegend=runs["run"].nunique() <= 30,
                                 line=dict(width=1, color=PALETTE[i % len(PALETTE)]), marker=dict(size=4),
                                 hovertemplate=f"{plotly_text(run)}<br>C=%{{x:.3g}}<br>loss=%{{y:.4f}}<extra></extra>"))
    used = used_points(result)
    if used is not None:  # ringed: the points this fit actually used (final points by default)
        fig.add_trace(go.Scatter(x=used["flops"], y=used["loss"], mode="markers", name="points used by the fit",
                                 marker=dict(size=10, color="rgba(0,0,0,0)", line=dict(color="black", width=1.5)),
                                 hoverinfo="skip"))
    if isinstance(result, AllocationFit) and result.frontier:
        fig.add_trace(go.Scatter(x=[p.flops for p in result.frontier], y=[p.loss for p in result.frontier],
                                 mode="markers", name="lowest loss at each C", marker=dict(color="black", size=7)))
    if isinstance(result, AllocationFit) and result.budgets:
        good = [b for b in result.budgets if b.accepted]
        fig.add_trace(go.Scatter(x=[b.flops for b in good], y=[b.loss_opt for b in good], mode="markers",
                                 name="IsoFLOP optima", marker=dict(color="black", size=10, symbol="star")))
    return _log_layout(fig, "Loss vs compute: each run (by run key) and the compute-optimal frontier", "compute C (FLOPs)",
                       "loss", log_y=True)


def isoflop_parabolas(result: AllocationFit) -> go.Figure:
    """Approach 2: each budget's points, its parabola in ln N and the optimum (rejected budgets greyed)."""
    fig = go.Figure()
    for i, b in enumerate(result.budgets):
        colour = PALETTE[i % len(PALETTE)] if b.accepted else "lightgrey"
        label = f"{b.flops:.2g} FLOPs" + ("" if b.accepted else " (rejected)")
        fig.add_trace(go.Scatter(x=b.params, y=b.losses, mode="markers", name=label, legendgroup=label,
                                 marker=dict(color=colour, size=7), hovertext=b.reason or None))
        if b.coefficients:
            x = np.linspace(np.log(min(b.params)), np.log(max(b.params)), 60)
            c0, c1, c2 = b.coefficients
            fig.add_trace(go.Scatter(x=np.exp(x), y=c0 + c1 * x + c2 * x**2, mode="lines", legendgroup=label,
                                     showlegend=False, line=dict(color=colour)))
        if b.accepted:
            fig.add_trace(go.Scatter(x=[b.params_opt], y=[b.loss_opt], mode="markers", legendgroup=label,
                                     showlegend=False, marker=dict(color=colour, size=13, symbol="star",
                                                                  line=dict(color="black", width=1))))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="★ optimum of each budget",
                             marker=dict(color="white", size=13, symbol="star", line=dict(color="black", width=1))))
    return _log_layout(fig, "IsoFLOP parabolas, one per budget", "parameters N", "loss")


def loss_vs_params(runs: pd.DataFrame, result: FitResult, points: str = "final") -> go.Figure:
    """Loss vs N coloured by tokens D (log colour scale), with the fitted law at a few token counts."""
    pts = select_points(runs, points)
    fig = go.Figure(go.Scatter(
        x=pts["params"], y=pts["loss"], mode="markers", name="runs",
        marker=dict(color=np.log10(pts["tokens"]), colorscale="Viridis", size=8,
                    colorbar=dict(title="log10 D")),
        customdata=pts[["run", "tokens"]].assign(run=pts["run"].map(plotly_text)), hovertemplate="%{customdata[0]}<br>N=%{x:.3s}<br>D=%{customdata[1]:.3s}"
                                                         "<br>loss=%{y:.4f}<extra></extra>"))
    law = law_of(result)
    if law is not None and not isinstance(result, AllocationFit):
        n = np.geomspace(pts["params"].min() / 1.5, pts["params"].max() * 1.5, 60)
        viridis = px.colors.sample_colorscale("Viridis", 4)
        lo, hi = np.log10(pts["tokens"].min()), np.log10(pts["tokens"].max())
        for colour, log_d in zip(viridis, np.linspace(lo, hi, 4)):
            fig.add_trace(go.Scatter(x=n, y=law.loss(n, np.full_like(n, 10**log_d)), mode="lines",
                                     name=f"fit at D={10**log_d:.2g}", line=dict(color=colour)))
    fig = _log_layout(fig, "Loss vs model size, coloured by tokens", "parameters N", "loss")
    return fig.update_layout(legend=dict(orientation="h", y=-0.25, font=dict(size=10)))


def residuals_figure(result: FitResult) -> go.Figure:
    """ln(predicted / observed) for every point used; held-out runs marked."""
    diag = result.diagnostics
    fig = go.Figure()
    if (df := used_points(result)) is not None:
        held = df["run"].isin(diag.heldout_runs)
        for mask, name, symbol in ((~held, "fitted points", "circle"), (held, "largest runs (held out in check)", "x")):
            if mask.any():
                fig.add_trace(go.Scatter(x=df.loc[mask, "flops"], y=df.loc[mask, "residual_log"], mode="markers",
                                         name=name, marker=dict(symbol=symbol, size=7),
                                         customdata=df.loc[mask, ["run"]].map(plotly_text),
                                         hovertemplate="%{customdata[0]}<br>%{y:.4f}<extra></extra>"))
        fig.add_hline(y=0, line=dict(color="grey", dash="dash"))
    return _log_layout(fig, f"Residuals (RMSE in log loss {diag.rmse_log:.4f})" if diag else "Residuals",
                       "compute C (FLOPs)", "ln(predicted / observed)")


def bootstrap_figure(result: FitResult) -> go.Figure:
    """Histograms of the bootstrap exponents a (N_opt ∝ C^a) and b (D_opt ∝ C^b)."""
    fig = go.Figure()
    for key, colour in (("a", PALETTE[0]), ("b", PALETTE[1])):
        values = (result.bootstrap_samples or {}).get(key)
        if values:
            fig.add_trace(go.Histogram(x=values, name=key, marker_color=colour, opacity=0.7, nbinsx=40))
            ci = (result.ci or {}).get(key)
            if ci:
                for v in (ci.low, ci.high):
                    fig.add_vline(x=v, line=dict(color=colour, dash="dash"))
    fig.update_layout(barmode="overlay", title="Bootstrap distributions of the exponents (dashed: 95% interval)",
                      xaxis_title="exponent", yaxis_title="resamples", template="plotly_white", height=380)
    return fig


COUNTS = ("N_opt", "D_opt")  # shown as 1.68B; other constants as 1.204e14, 0.3478


def readable_number(x: float | None, count: bool = False) -> str:
    """'1.68B' for a count, else 4 significant digits with a short exponent ('1.204e14', '0.3478')."""
    if x is None or not math.isfinite(x):
        return "—"
    if count:
        return fmt.count(x)
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{x:.4g}")


def readable_parameter_table(result: FitResult) -> pd.DataFrame:
    """`parameter_table` as text for people (the CSV download keeps the numbers)."""
    table = parameter_table(result)
    is_count = table["parameter"].str.split(" ").str[0].isin(COUNTS)
    for col in table.columns[1:]:
        table[col] = [readable_number(v, c) for v, c in zip(table[col], is_count)]
    return table


def heldout_caption(result: FitResult, shown: int = 4) -> str | None:
    """'Held-out check: refitted without a, b, c, d and 1 more, the error on them is ...'."""
    diag = result.diagnostics
    if not diag or diag.heldout_rmse_log is None:
        return None
    runs = diag.heldout_runs
    if result.method == "approach2":  # the held-out item is the largest budget's optimum
        return (f"Held-out check: refitted without the largest {', '.join(runs)} FLOPs, the predicted N_opt there "
                f"is off by {diag.heldout_rmse_log:.4f} in ln (a factor {math.exp(diag.heldout_rmse_log):.2f}).")
    names = ", ".join(map(plain, runs[:shown])) + (f" and {len(runs) - shown} more" if len(runs) > shown else "")
    return (f"Held-out check: refitted without {names}, the RMSE of ln loss on {'it' if len(runs) == 1 else 'them'} "
            f"is {diag.heldout_rmse_log:.4f}.")


def parameter_table(result: FitResult) -> pd.DataFrame:
    """One row per fitted quantity (numbers): estimate and, when bootstrapped, the 95% interval."""
    names = {ParametricFit: ["E", "A", "B", "alpha", "beta", "a", "b"],
             AllocationFit: ["a", "b", "k_params", "k_tokens"],
             KaplanFit: ["N_c", "D_c", "alpha_N", "alpha_D", "N_c_only", "alpha_N_only", "D_c_only",
                         "alpha_D_only", "a", "b"],
             DataConstrainedFit: ["E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star", "a", "b"]}[type(result)]
    rows = []
    for name in names:
        ci = (result.ci or {}).get(name)
        rows.append({"parameter": name, "estimate": getattr(result, name),
                     "95% low": ci.low if ci else None, "95% high": ci.high if ci else None})
    if result.optimum:
        for key in ("params", "tokens", "loss"):
            ci = (result.ci or {}).get(f"{key}_opt")
            if getattr(result.optimum, key) is None:
                continue  # Approaches 1 and 2 give the allocation, not the loss
            label = {"params": "N_opt", "tokens": "D_opt", "loss": "loss"}[key]
            rows.append({"parameter": f"{label} at {readable_number(result.optimum.flops)} FLOPs",
                         "estimate": getattr(result.optimum, key), "95% low": ci.low if ci else None,
                         "95% high": ci.high if ci else None})
    table = pd.DataFrame(rows)
    return table if result.ci else table.drop(columns=["95% low", "95% high"])


def chart_tables(runs: pd.DataFrame, result: FitResult) -> dict[str, pd.DataFrame]:
    """The data behind every chart, for download as CSV."""
    tables = {"runs": runs, "frontier": frontier_table(runs, result), "parameters": parameter_table(result)}
    if (residuals := used_points(result)) is not None:
        tables["residuals"] = residuals
    if isinstance(result, AllocationFit) and result.budgets:
        tables["isoflop_budgets"] = pd.DataFrame([b.model_dump(exclude={"params", "losses"}) for b in result.budgets])
    if result.bootstrap_samples:
        tables["bootstrap"] = pd.DataFrame(result.bootstrap_samples)
    return tables


# --- trust ----------------------------------------------------------------------------------------------

VERDICT_BADGE = {"ok": ":green-background[**ok**]", "caution": ":orange-background[**caution**]",
                 "unreliable": ":red-background[**unreliable**]"}
VERDICT_SENTENCE = {"ok": "no reason found to doubt this fit.",
                    "caution": "usable, but check the reasons below before acting on it.",
                    "unreliable": "do not plan with this fit until the reasons below are fixed."}


def verdict_line(result: FitResult) -> str:
    """'Trust: **caution**, usable, but ... (fitted in 0.04 s)'."""
    return (f"Trust: {VERDICT_BADGE[result.verdict]} {VERDICT_SENTENCE[result.verdict]} "
            f"(fitted in {result.seconds:.2f} s)")


# Material icons, which Streamlit ships with its page, rather than emoji, which need a font the machine may lack
# (a headless Chromium without one draws a box).
WARNING_MARK = {True: ":red[:material/error:]", False: ":orange[:material/warning:]"}


def warning_lines(result: FitResult) -> list[tuple[str, str]]:
    """(markdown line, tooltip) per warning: the finding, what to do next; the tooltip says why it matters."""
    lines = []
    for w in result.trust:
        mark = WARNING_MARK[w.severity == "unreliable"]
        advice = f" → {w.advice}" if w.advice else ""
        lines.append((f"{mark} {plain(w.text)}{plain(advice) if advice else ''}", w.explanation))
    return lines


def comparison_table(result: FitResult) -> pd.DataFrame:
    """Every applicable approach on the same runs: a, b and the optimum at the target, or why it failed."""
    rows = []
    for r in result.comparison:
        label = r.method.replace("approach", "Approach ").replace("kaplan", "Kaplan")
        rows.append({"method": label + (" (chosen)" if r.method == result.method else ""),
                     "a": readable_number(r.a), "b": readable_number(r.b),
                     "N_opt": readable_number(r.params_opt, count=True),
                     "D_opt": readable_number(r.tokens_opt, count=True),
                     "note": (r.error or "")[:140] + ("…" if r.error and len(r.error) > 140 else "")
                     or ("" if r.comparable else "not counted: too few IsoFLOP budgets of 5+ points")})
    return pd.DataFrame(rows)


def prediction_caption(result: FitResult) -> str | None:
    """'95% prediction interval at 1e21 FLOPs: loss 2.84-2.91, N_opt 714M-4.31B, D_opt 38.7B-234B'."""
    pred = result.prediction
    if not pred or not result.optimum:
        return None
    parts = []
    if "loss" in pred:
        parts.append(f"loss {pred['loss'].low:.3f}-{pred['loss'].high:.3f}")
    for key, label in (("params_opt", "N_opt"), ("tokens_opt", "D_opt")):
        if key in pred:
            parts.append(f"{label} {fmt.count(pred[key].low)}-{fmt.count(pred[key].high)}")
    return (f"95% prediction interval at {readable_number(result.optimum.flops)} FLOPs: {', '.join(parts)} "
            "(loss: fit uncertainty and the runs' scatter about the law; sizes: fit uncertainty)")


def used_points(result: FitResult) -> pd.DataFrame | None:
    """The points the fit used, with their residuals (None when the fit has none): ringed on the curves, the
    residuals chart, and its download."""
    diag = result.diagnostics
    if not diag or not diag.residuals:
        return None
    return pd.DataFrame([r.model_dump() for r in diag.residuals])
