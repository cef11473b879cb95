"""How far to trust a fit: a verdict (ok, caution, unreliable) and the reasons, each with what to do next.

Thresholds were calibrated on ../shared/datasets (OLMo ladder final points, Porian et al.'s 15
configurations, Muennighoff et al.'s datablations runs) and on synthetic runs from Hoffmann's law with
0.5-2% noise: none of them fires on the clean published sets (tests/fitting/test_trust.py), each fires
on the file built to show its failure. They are stated in README.md (Fit: trust).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.fitting.results import AllocationFit, FitResult, KaplanFit, MethodRow, ParametricFit, TrustWarning
from planner.fitting.runs import has_curves, restarts

E_ZERO = 0.05  # E below 5% of the lowest loss: the fit has put (almost) all the loss into the power laws
E_AT_LOSS = 0.999  # E within 0.1% of the lowest observed loss: nothing is left for N and D to explain
EXPONENT_NEAR_ZERO = 0.05  # alpha or beta below this: loss (almost) does not depend on N or D
EXPONENT_EDGE = 2.0  # alpha or beta beyond the largest start of Hoffmann's grid (and of the varpro grid)
CI_HALF_WIDTH = 0.1  # bootstrap 95% interval on a wider than ±0.1
APPROACH_SPREAD = 0.15  # Approaches 1-3 further apart than this (clean synthetic curves: up to 0.13,
# Approach 1 reads N_opt off a handful of discrete sizes)
HELDOUT_FACTOR = 4.0  # held-out error over in-sample error (with a floor, below)
HELDOUT_FLOOR = 0.02  # ln-loss error below 2% is never a failure, whatever the factor
EXTRAPOLATION_ORDERS = 2.0  # target budget more than 100x the largest run
MIN_SIZES = 4  # distinct model sizes for Approach 3 / Kaplan
MIN_BUDGETS = 3  # IsoFLOP budgets with an interior minimum for Approach 2
CONSTANT_LOSS = 0.01  # highest / lowest loss below 1.01: the losses carry no signal
A_RANGE = (0.3, 0.65)  # published compute-optimal a since Chinchilla: about 0.45-0.55 (OLMo ladder: 0.33)
REJECTED_SHARE = 0.25  # more than a quarter of the IsoFLOP budgets without an interior minimum

HELP = {
    "e_zero": "L = E + A/N^α + B/D^β: E is the loss no model size or data can remove. E near 0 means the fit "
              "explained the loss by the power laws alone; the exponents then absorb the curvature and the "
              "allocation is wrong. Usually too narrow a range of sizes or tokens, or mixed-up runs.",
    "e_high": "E is at or above the lowest loss you measured: the law says some run beat the irreducible loss, "
              "which is impossible; the fit is degenerate.",
    "exponent": "An exponent near 0 says loss does not depend on N (or D); beyond 2 it is far outside anything "
                "published (0.2-0.8). Either way the allocation exponent a = β/(α+β) is meaningless.",
    "not_a_law": "Non-positive exponents mean loss does not fall with size or data: no compute-optimal size.",
    "ci_wide": "The bootstrap refits the law on resampled runs; a wide interval means a few runs decide the "
               "answer. More runs (sizes and budgets) narrow it.",
    "bimodal": "Resampled runs give two different answers: two laws fit about equally well. The point estimate "
               "is one of them by chance.",
    "approaches": "Hoffmann et al. fitted three approaches to the same runs and got a = 0.49-0.50; here they "
                  "disagree, so at least one of them is not supported by these runs. Trust the one whose "
                  "assumptions your runs meet (Approach 2: IsoFLOP sweeps; Approach 3: final points of "
                  "decayed runs).",
    "heldout": "The law was refitted without the largest runs and asked to predict them. Missing them by "
               "much more than it misses the runs it saw means it bends the wrong way when extrapolated.",
    "extrapolation": "The optimum is read off the law far beyond the runs it was fitted on; small errors in "
                     "the exponents grow with every order of magnitude.",
    "few_sizes": "Three or fewer model sizes leave the exponent of N barely constrained.",
    "few_budgets": "The power law N_opt ∝ C^a through two or three budgets has no way to show it is a line.",
    "no_minimum": "An IsoFLOP budget whose smallest loss is at the smallest or largest model tried gives no "
                  "optimum: the sizes do not bracket it.",
    "coverage": "The optimum the law predicts at your runs' own budgets lies outside the sizes you trained; "
                "the fit is extrapolating even there.",
    "constant": "The losses hardly differ between runs, so any law fits them and none is supported.",
    "intermediate": "With a cosine schedule set for the full run, a checkpoint in the middle has not decayed "
                    "its learning rate: its loss is higher than a run of that length would reach (Hoffmann "
                    "et al. 2022 §3.1; Porian et al. 2024), which biases the law toward more tokens.",
    "merged": "Tokens go back inside one run: several runs (sweeps, restarts) share a name. Their "
              "'final point' and curve are wrong until they are told apart.",
    "repeated": "Repeating data gives less than fresh data (Muennighoff et al. 2023): a law for single-epoch "
                "runs, fitted to repeated ones, underestimates what fresh data would give.",
    "a_range": "Porian et al. 2024 (Resolving Discrepancies in Compute-Optimal Scaling) reproduce Kaplan's "
               "a ≈ 0.73-0.88 and trace it to counting only non-embedding parameters (ignoring the last "
               "layer's compute), a warmup too long for the small models, and optimizer settings not tuned "
               "per scale; corrected, a ≈ 0.5 as in Chinchilla.",
}


def _warn(code: str, severity: str, text: str, advice: str = "") -> TrustWarning:
    return TrustWarning(code=code, severity=severity, text=text, advice=advice, explanation=HELP.get(code, ""))


def _budget_text(c: float) -> str:
    return f"{c:.0e}".replace("e+", "e")


def parametric_checks(result: FitResult, pts: pd.DataFrame) -> list[TrustWarning]:
    """Degenerate parameters of Approach 3's fitted L(N, D)."""
    if not isinstance(result, ParametricFit):
        return []
    out = []
    low = float(pts["loss"].min())
    if result.alpha <= 0 or result.beta <= 0:
        return [_warn("not_a_law", "unreliable", f"the fitted exponents (alpha = {result.alpha:.3g}, beta = "
                      f"{result.beta:.3g}) are not positive: these runs give no law", "check the run key and the "
                      "points used; add runs over a wider range of sizes and tokens")]
    if result.E < E_ZERO * low:
        out.append(_warn("e_zero", "unreliable", f"E = {result.E:.3g} is degenerate (near 0, below {E_ZERO:.0%} of "
                         f"the lowest loss {low:.3g})", "check that each run is one curve and use final points; "
                         "add sizes and token counts over at least 1.5 orders of magnitude"))
    elif result.E >= E_AT_LOSS * low:
        out.append(_warn("e_high", "unreliable", f"E = {result.E:.4g} is at or above the lowest observed loss "
                         f"({low:.4g})", "add larger runs or longer runs; check for mixed-up runs"))
    for name, value in (("alpha", result.alpha), ("beta", result.beta)):
        if value < EXPONENT_NEAR_ZERO or value > EXPONENT_EDGE:
            where = "near 0" if value < EXPONENT_NEAR_ZERO else f"beyond {EXPONENT_EDGE:g}, the edge of the search"
            out.append(_warn("exponent", "unreliable", f"{name} = {value:.3g} is {where}",
                             "add runs over a wider range of " + ("sizes" if name == "alpha" else "token counts")))
    return out


def bootstrap_checks(result: FitResult) -> list[TrustWarning]:
    out = []
    ci = (result.ci or {}).get("a")
    if ci and (ci.high - ci.low) > 2 * CI_HALF_WIDTH:
        out.append(_warn("ci_wide", "caution", f"the bootstrap 95% interval on a is [{ci.low:.2f}, {ci.high:.2f}], "
                         f"wider than ±{CI_HALF_WIDTH:g}", "add model sizes and budgets"))
    samples = (result.bootstrap_samples or {}).get("a")
    if samples and is_bimodal(np.asarray(samples, float)):
        out.append(_warn("bimodal", "caution", "the bootstrap distribution of a has two modes: two laws fit about "
                         "equally well", "add runs between the sizes tried; compare the approaches below"))
    return out


def is_bimodal(x: np.ndarray, min_share: float = 0.1, separation: float = 4.0) -> bool:
    """Two clusters (best 2-way split of the sorted values), the smaller holding >= 10% of the samples, whose
    means are more than 4 pooled standard deviations apart."""
    x = np.sort(x[np.isfinite(x)])
    n = len(x)
    if n < 20 or x[-1] - x[0] < 1e-6:
        return False
    c1, c2 = np.cumsum(x), np.cumsum(x**2)
    k = np.arange(1, n)
    m1, m2 = c1[:-1] / k, (c1[-1] - c1[:-1]) / (n - k)
    within = (c2[:-1] - k * m1**2) + (c2[-1] - c2[:-1] - (n - k) * m2**2)
    lo, hi = int(np.ceil(min_share * n)), int(n - np.ceil(min_share * n))
    if hi <= lo:
        return False
    i = lo - 1 + int(np.argmin(within[lo - 1:hi]))
    sd = math.sqrt(max(within[i], 0.0) / (n - 2))
    return bool(m2[i] - m1[i] > separation * max(sd, 1e-9))


def comparison_checks(result: FitResult, rows: list[MethodRow]) -> list[TrustWarning]:
    hoffmann = [r for r in rows if r.a is not None and r.comparable and r.method in ("approach1", "approach2", "approach3")]
    out = []
    # A data-constrained fit is compared with laws that know nothing of repeats: shown, not judged.
    if len(hoffmann) >= 2 and result.method != "data_constrained":
        spread = max(r.a for r in hoffmann) - min(r.a for r in hoffmann)
        if spread > APPROACH_SPREAD:
            values = ", ".join(f"{r.method.replace('approach', 'Approach ')} {r.a:.2f}" for r in hoffmann)
            out.append(_warn("approaches", "caution", f"the approaches disagree on a ({values}; spread "
                             f"{spread:.2f} > {APPROACH_SPREAD:g})", "see the method comparison; use final "
                             "points of decayed runs, or IsoFLOP sweeps for Approach 2"))
    if result.a is not None and not A_RANGE[0] <= result.a <= A_RANGE[1]:
        why = " (Kaplan-like)" if result.a > A_RANGE[1] else ""
        out.append(_warn("a_range", "caution", f"a = {result.a:.2f}{why} is outside {A_RANGE[0]}-{A_RANGE[1]}, the "
                         "range of compute-optimal studies since Chinchilla; setups that count only non-embedding "
                         "parameters, warm up too long for small models or leave hyperparameters untuned per "
                         "scale inflate a (Porian et al. 2024)", "count all parameters (with the embeddings' "
                         "compute), scale warmup to the model, tune the learning rate per size"))
    return out


def heldout_checks(result: FitResult) -> list[TrustWarning]:
    diag = result.diagnostics
    if not diag or diag.heldout_rmse_log is None or result.method not in ("approach3", "kaplan"):
        return []
    inside = diag.refit_rmse_log if diag.refit_rmse_log is not None else diag.rmse_log
    if diag.heldout_rmse_log <= max(HELDOUT_FACTOR * inside, HELDOUT_FLOOR):
        return []
    return [_warn("heldout", "caution", f"the held-out check fails: refitted without the largest run(s), the law "
                  f"misses them by {diag.heldout_rmse_log:.3f} in ln loss, {diag.heldout_rmse_log / max(inside, 1e-12):.1f}x "
                  f"its error on the runs it saw ({inside:.3f}; limit {HELDOUT_FACTOR:g}x, and at least "
                  f"{HELDOUT_FLOOR:g})", "add runs near the largest budget before extrapolating further")]


def extrapolation_orders(df: pd.DataFrame, target: float | None) -> float | None:
    return None if not target else float(math.log10(target / df["flops"].max()))


def extrapolation_checks(orders: float | None, df: pd.DataFrame, target: float | None) -> list[TrustWarning]:
    if target and target < df["flops"].min() / 10 ** EXTRAPOLATION_ORDERS:  # below the runs is extrapolation too
        below = math.log10(df["flops"].min() / target)
        return [_warn("extrapolation", "caution", f"the target {target:.3g} FLOPs is {below:.1f} orders of "
                      f"magnitude below the smallest run ({df['flops'].min():.3g} FLOPs; limit "
                      f"{EXTRAPOLATION_ORDERS:g})", "set a target within or above the runs' compute")]
    if orders is None or orders <= EXTRAPOLATION_ORDERS:
        return []
    step = df["flops"].max() * 10 ** min(1.5, orders - 1)
    return [_warn("extrapolation", "caution", f"the target {target:.3g} FLOPs is {orders:.1f} orders of magnitude "
                  f"beyond the largest run ({df['flops'].max():.3g} FLOPs; limit {EXTRAPOLATION_ORDERS:g})",
                  f"add runs at {_budget_text(step)} FLOPs")]


def coverage_checks(result: FitResult, pts: pd.DataFrame) -> list[TrustWarning]:
    """Approach 3 / Kaplan: the law's own optimum at the runs' median budget inside the sizes trained (the
    largest budget of a size x tokens grid is over-trained by design, so it is not the place to look)."""
    if not isinstance(result, (ParametricFit, KaplanFit)):
        return []
    from planner.fitting.core import law_of  # core imports this module

    law = law_of(result)
    if law is None:
        return []
    c = float(np.exp(np.median(np.log(pts["flops"].to_numpy(float)))))
    try:
        n_opt = law.optimal(c).params
    except (ValueError, ArithmeticError):
        return []
    lo, hi = float(pts["params"].min()), float(pts["params"].max())
    if lo / 1.5 <= n_opt <= hi * 1.5:  # within half a size step of the range tried
        return []
    side = "larger" if n_opt > hi else "smaller"
    return [_warn("coverage", "caution", f"the runs do not cover the optimum: at {c:.3g} FLOPs (the runs' median budget) "
                  f"the law's best size is {n_opt:.3g} parameters, {side} than any model trained "
                  f"({lo:.3g}-{hi:.3g})", f"add models of about {n_opt:.2g} parameters at {_budget_text(c)} FLOPs")]


def budget_checks(result: FitResult) -> list[TrustWarning]:
    if not isinstance(result, AllocationFit) or result.method != "approach2":
        return []
    out = []
    rejected = [b for b in result.budgets if not b.accepted and "minimum" in b.reason]
    if len(rejected) > REJECTED_SHARE * len(result.budgets):
        listed = ", ".join(f"{b.flops:.2g}" for b in rejected[:4]) + (" ..." if len(rejected) > 4 else "")
        out.append(_warn("no_minimum", "caution", f"{len(rejected)} IsoFLOP budget(s) have no interior minimum "
                         f"({listed} FLOPs) and were left out", "extend the model sizes at those budgets so that "
                         "the smallest loss has a smaller and a larger model beside it"))
    good = sorted(b.flops for b in result.budgets if b.accepted)
    if len(good) < MIN_BUDGETS:
        out.append(_warn("few_budgets", "caution", f"only {len(good)} IsoFLOP budget(s) have an optimum (at least "
                         f"{MIN_BUDGETS} needed to check the power law)",
                         f"add runs at {_budget_text(good[-1] * 3)} FLOPs" if good else "add IsoFLOP budgets"))
    return out


def data_checks(result: FitResult, df: pd.DataFrame, pts: pd.DataFrame, points: str,
                warmup_dropped: int) -> list[TrustWarning]:
    """What the runs themselves say, whatever the law: too few sizes, flat losses, mixed or unfinished runs."""
    out = []
    back = restarts(df["tokens"], df["run"].astype(str))
    merged = list(dict.fromkeys(df.loc[back, "run"].astype(str)))
    if merged:
        out.append(_warn("merged", "unreliable", f"{len(merged)} run(s) hold several curves (tokens go back "
                         f"inside {', '.join(merged[:3])})", "map run= to the columns that tell "
                         "the runs apart (e.g. run=model+sweep+lr), or let the file be split automatically"))
    if float(pts["loss"].max()) < (1 + CONSTANT_LOSS) * float(pts["loss"].min()):
        out.append(_warn("constant", "unreliable", f"the losses barely vary ({pts['loss'].min():.4g} to "
                         f"{pts['loss'].max():.4g}, under {CONSTANT_LOSS:.0%}): no law can be read from them",
                         "check the loss column (a constant or a copy?) and add runs of other sizes"))
    if "unique_tokens" in pts and result.method != "data_constrained":
        repeated = int((pts["tokens"] > pts["unique_tokens"] * 1.0001).sum())
        if repeated:
            out.append(_warn("repeated", "caution", f"{repeated} of the {len(pts)} points repeat their data for "
                             "more than one epoch, which this law does not model", "use the data-constrained "
                             "law (Muennighoff et al. 2023), or only single-epoch runs"))
    sizes = pts["params"].nunique()
    if result.method in ("approach3", "kaplan", "data_constrained") and sizes < MIN_SIZES:
        out.append(_warn("few_sizes", "caution", f"only {sizes} model size(s) (at least {MIN_SIZES} recommended)",
                         "add smaller and larger models"))
    if points == "all" and has_curves(df) and result.method in ("approach3", "kaplan", "data_constrained"):
        extra = f"; {warmup_dropped} warmup point(s) were dropped" if warmup_dropped else ""
        out.append(_warn("intermediate", "caution", f"intermediate checkpoints are fitted as if they were final "
                         f"points ({len(pts)} points of {pts['run'].nunique()} runs){extra}",
                         "use final points (default), or the lower envelope with an overestimate penalty"))
    return out


def assess(result: FitResult, df: pd.DataFrame, pts: pd.DataFrame, points: str, target: float | None,
           rows: list[MethodRow], warmup_dropped: int = 0) -> dict:
    """The fields a fit result gets: verdict, warnings, trust, extrapolation_orders."""
    orders = extrapolation_orders(df, target)
    found = (data_checks(result, df, pts, points, warmup_dropped) + parametric_checks(result, pts)
             + bootstrap_checks(result) + comparison_checks(result, rows) + heldout_checks(result)
             + budget_checks(result) + coverage_checks(result, pts) + extrapolation_checks(orders, df, target))
    verdict = "unreliable" if any(w.severity == "unreliable" for w in found) else "caution" if found else "ok"
    return {"verdict": verdict, "warnings": [w.text for w in found], "trust": found, "extrapolation_orders": orders}
