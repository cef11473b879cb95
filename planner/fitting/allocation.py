"""Approaches 1 and 2 of Hoffmann et al. 2022: the compute-optimal size read off the runs, then
power laws N_opt = k C^a and D_opt = C / (6 N_opt) fitted in log space."""
from __future__ import annotations

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.fitting.results import BudgetOptimum, FrontierPoint
from planner.core.laws import FLOPS_PER_PARAM_TOKEN

BUDGET_TOLERANCE_DEX = 0.05  # runs within ±12% of compute share an IsoFLOP budget
MIN_SIZES_PER_BUDGET = 3  # a parabola needs three model sizes
ENVELOPE_LEVELS = 40


def power_law(flops: np.ndarray, params: np.ndarray, weights=None) -> tuple[float, float]:
    """(a, k): least squares of ln N = a ln C + ln k."""
    if len(np.unique(flops)) < 2:
        raise PlannerError("the optimum is known at fewer than two compute levels: add runs at other budgets")
    w = None if weights is None else np.sqrt(weights)
    a, log_k = np.polyfit(np.log(flops), np.log(params), 1, w=w)
    return float(a), float(np.exp(log_k))


# --- Approach 2: IsoFLOP parabolas --------------------------------------------------------------------


def group_budgets(flops: np.ndarray, tol_dex: float = BUDGET_TOLERANCE_DEX) -> np.ndarray:
    """Label points whose compute agrees within tol (in log10) with the same budget index."""
    order = np.argsort(flops)
    logc = np.log10(flops[order])
    labels_sorted = np.concatenate([[0], np.cumsum(np.diff(logc) > tol_dex)])
    labels = np.empty_like(labels_sorted)
    labels[order] = labels_sorted
    return labels


def fit_parabola(flops: float, params: np.ndarray, losses: np.ndarray, weights=None) -> BudgetOptimum:
    """loss = c0 + c1 x + c2 x^2 in x = ln N; the vertex is the optimum if it lies inside the sizes tried."""
    keep = np.ones(len(params), bool) if weights is None else weights > 0
    params, losses = params[keep], losses[keep]
    w = None if weights is None else np.sqrt(weights[keep])
    base = BudgetOptimum(flops=float(flops), accepted=False, params=params.tolist(), losses=losses.tolist())
    if len(np.unique(params)) < MIN_SIZES_PER_BUDGET:
        return base.model_copy(update={"reason": f"only {len(np.unique(params))} model size(s); a parabola needs 3"})
    x = np.log(params)
    c2, c1, c0 = np.polyfit(x, losses, 2, w=w)
    coefficients = [float(c0), float(c1), float(c2)]
    if c2 <= 0:
        return base.model_copy(update={"coefficients": coefficients,
                                       "reason": "loss does not curve up in log N (no minimum): add smaller and larger models"})
    x_opt = -c1 / (2 * c2)
    if not x.min() <= x_opt <= x.max():
        side = "below the smallest" if x_opt < x.min() else "above the largest"
        return base.model_copy(update={"coefficients": coefficients,
                                       "reason": f"minimum {side} model tried (no interior minimum): extend the sizes"})
    n_opt = float(np.exp(x_opt))
    return base.model_copy(update={
        "accepted": True, "coefficients": coefficients, "params_opt": n_opt,
        "tokens_opt": float(flops / (FLOPS_PER_PARAM_TOKEN * n_opt)), "loss_opt": float(c0 + c1 * x_opt + c2 * x_opt**2)})


def isoflop_points(df: pd.DataFrame, budgets: list[float] | None,
                   curves: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Points (budget, params, loss, run) for the parabolas: final losses grouped by compute, or, for
    loss curves that share no budget, each curve read at common budgets."""
    notes = []
    if budgets:
        labels = np.full(len(df), -1)
        for i, c in enumerate(budgets):
            labels[np.abs(np.log10(df["flops"].to_numpy() / c)) <= BUDGET_TOLERANCE_DEX] = i
        out = df.assign(budget=[budgets[i] if i >= 0 else np.nan for i in labels]).dropna(subset=["budget"])
        if out.empty:
            raise PlannerError("no run lies within ±12% of the budgets given: check the budgets (in FLOPs)")
        return out, notes
    labels = group_budgets(df["flops"].to_numpy())
    out = df.assign(budget=df.groupby(labels)["flops"].transform(lambda c: float(np.exp(np.log(c).mean()))).to_numpy())
    sizes_per_budget = out.groupby("budget")["params"].nunique()
    if (sizes_per_budget >= MIN_SIZES_PER_BUDGET).sum() >= 2 or curves is None:
        return out, notes
    levels = _shared_levels(curves, min_runs=MIN_SIZES_PER_BUDGET, count=8)
    interp = curve_matrix(curves, levels)
    rows = [(levels[j], run_params, float(np.exp(interp[i, j])), run)
            for i, (run, run_params) in enumerate(_run_sizes(curves)) for j in range(len(levels))
            if np.isfinite(interp[i, j])]
    notes.append("the final points share no compute budget, so each loss curve is read at "
                 f"{len(levels)} common budgets (intermediate losses of a decaying schedule are biased upward)")
    return pd.DataFrame(rows, columns=["budget", "params", "loss", "run"]), notes


def approach2(points: pd.DataFrame, weights: np.ndarray | None = None):
    """Per-budget parabola optima and the power law through the accepted ones."""
    results = []
    for budget, grp in points.groupby("budget", sort=True):
        w = None if weights is None else weights[grp.index.to_numpy()]
        if w is not None and w.sum() == 0:
            continue
        results.append(fit_parabola(budget, grp["params"].to_numpy(), grp["loss"].to_numpy(), w))
    good = [r for r in results if r.accepted]
    if len(good) < 2:
        reasons = "; ".join(f"{r.flops:.3g} FLOPs: {r.reason}" for r in results if not r.accepted)
        raise PlannerError(f"Approach 2 needs at least two budgets with an interior minimum, found {len(good)}"
                           + (f" ({reasons})" if reasons else ""))
    a, k = power_law(np.array([r.flops for r in good]), np.array([r.params_opt for r in good]))
    return a, k, results


# --- Approach 1: envelope of the loss curves ----------------------------------------------------------


def _run_sizes(curves: pd.DataFrame) -> list[tuple[str, float]]:
    return [(run, float(grp["params"].iloc[0])) for run, grp in curves.groupby("run", sort=True)]


def curve_matrix(curves: pd.DataFrame, levels: np.ndarray) -> np.ndarray:
    """ln loss of every run (rows, sorted by name) at each compute level, NaN outside the run's range."""
    out = np.full((curves["run"].nunique(), len(levels)), np.nan)
    logc = np.log(levels)
    for i, (_, grp) in enumerate(curves.groupby("run", sort=True)):
        grp = grp.sort_values("flops")
        x, y = np.log(grp["flops"].to_numpy()), np.log(grp["loss"].to_numpy())
        inside = (logc >= x[0]) & (logc <= x[-1])
        out[i, inside] = np.interp(logc[inside], x, y)
    return out


def _shared_levels(curves: pd.DataFrame, min_runs: int, count: int) -> np.ndarray:
    lo = curves.groupby("run")["flops"].min().sort_values().to_numpy()
    hi = curves.groupby("run")["flops"].max().sort_values().to_numpy()
    if len(lo) < min_runs:
        raise PlannerError(f"need at least {min_runs} runs with loss curves, found {len(lo)}")
    start, stop = lo.min(), hi[-min_runs] if len(hi) >= min_runs else hi[-1]
    if stop <= start:
        raise PlannerError("the loss curves do not overlap in compute: log evaluations more often")
    return np.geomspace(start, stop, count)


def envelope_levels(curves: pd.DataFrame) -> np.ndarray:
    """Compute levels from the smallest run's start to the largest compute reached, log-spaced."""
    return np.geomspace(curves["flops"].min(), curves["flops"].max(), ENVELOPE_LEVELS)


def approach1_frontier(curves: pd.DataFrame, matrix: np.ndarray, levels: np.ndarray,
                       run_mask: np.ndarray | None = None) -> list[FrontierPoint]:
    """At each compute level the run with the lowest (interpolated) loss; only levels two runs reach."""
    sizes = _run_sizes(curves)
    m = matrix if run_mask is None else np.where(run_mask[:, None], matrix, np.nan)
    counts = np.isfinite(m).sum(axis=0)
    frontier = []
    for j in np.flatnonzero(counts >= 2):
        i = int(np.nanargmin(m[:, j]))
        run, n = sizes[i]
        frontier.append(FrontierPoint(flops=float(levels[j]), loss=float(np.exp(m[i, j])), run=run, params=n,
                                      tokens=float(levels[j] / (FLOPS_PER_PARAM_TOKEN * n))))
    return frontier


def approach1(curves: pd.DataFrame, matrix, levels, run_mask=None):
    frontier = approach1_frontier(curves, matrix, levels, run_mask)
    if len({p.params for p in frontier}) < 2:
        raise PlannerError("Approach 1 needs the lowest-loss run to change with compute: upload loss curves "
                           "of at least two model sizes that cross")
    a, k = power_law(np.array([p.flops for p in frontier]), np.array([p.params for p in frontier]))
    return a, k, frontier
