"""`fit_runs(table, options)`: pick the points a method needs, fit, then add the optimum at a target
budget, bootstrap intervals and goodness-of-fit diagnostics."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.fitting import allocation, other_laws, parametric, runs, trust, varpro
from planner.fitting.results import (AllocationFit, DataConstrainedFit, Diagnostics, FitOptions, FitResult,
                                     KaplanFit, MethodRow, Optimum, ParametricFit, Residual)
from planner.fitting.uncertainty import bootstrap_weights, intervals, prediction_intervals
from planner.fitting.uploads import RunTable
from planner.core.laws import DEFAULT_LAW, FLOPS_PER_PARAM_TOKEN, PRESETS, ChinchillaLaw, PowerLawAllocation

# Warm-started resamples: light damping, float32 throughout, at most 30 steps, stop at 1e-6 relative gain
# (benchmarks/bench_fit.py: 95% interval ends within ~3e-4 of running every resample to the 1e-9 stop).
BOOTSTRAP_STEPS = dict(max_iter=30, tol=1e-6, coarse_iters=30, damping=1e-4)
MIN_POINTS_PARAMETRIC = 6  # five parameters; fewer points leave nothing to check the fit against
# The most points one fit sees (Approach 3's multi-start fit takes ~1.5 s per 1,000 points on a 2-core CPU;
# benchmarks/RESULTS.md "Upload fuzz"); beyond it each curve is thinned evenly, with a note.
MAX_FIT_POINTS = 2_000


def select_points(df: pd.DataFrame, points: str, warmup_fraction: float = runs.WARMUP_FRACTION) -> pd.DataFrame:
    """Each run's final evaluation(s) (several when a run name repeats, as seeds do), every point after
    warmup, or the lower envelope of each size (fitting/runs.py)."""
    return runs.select(df, points, warmup_fraction)[0]


FITS = {}  # method -> fit function, filled at the end of the module


def fit_runs(table: RunTable | pd.DataFrame, options: FitOptions | None = None) -> FitResult:
    options = options or FitOptions()
    df = table.frame() if isinstance(table, RunTable) else table.reset_index(drop=True)
    if df.empty:
        raise PlannerError("no runs to fit: upload a file with at least a few runs")
    if len(df) > 1 and np.ptp(np.log(df["loss"].to_numpy(float))) < 1e-9:  # nothing to fit; the optimisers would overflow
        raise PlannerError(f"every loss is {df['loss'].iloc[0]:.6g}: a scaling law needs losses that change with "
                           "model size and data; check that the loss column holds each run's evaluation loss")
    df, cap_note = runs.cap_points(df, MAX_FIT_POINTS)
    import scipy.optimize  # noqa: F401  (heavy; imported before the clock starts so `seconds` is the fit's own)

    start = time.perf_counter()
    result = FITS[options.method](df, options)
    result = result.model_copy(update={"seconds": time.perf_counter() - start})
    if cap_note:
        result = result.model_copy(update={"notes": [cap_note] + result.notes})
    if options.target_flops and result.optimum is None:
        result = result.model_copy(update={"notes": result.notes + [_no_optimum_note(result, options.target_flops)]})
    if isinstance(table, RunTable) and table.dropped:  # say in the result which rows the fit did not see
        result = result.model_copy(update={"dropped": table.dropped,
                                           "rows_dropped": sum(len(d.rows) for d in table.dropped)})
    return _judge(result, df, options) if options.compare else result


def _judge(result: FitResult, df: pd.DataFrame, options: FitOptions) -> FitResult:
    """The other applicable approaches side by side, then the verdict and its reasons (trust.py)."""
    rows = compare_methods(df, options, result)
    pts, warmup = runs.select(df, "final" if options.method == "approach2" else options.points,
                              options.warmup_fraction)
    verdict = trust.assess(result, df, df if options.method == "approach1" else pts, options.points,
                           options.target_flops, rows, warmup)
    return result.model_copy(update={"comparison": rows, **verdict})


def _row(fit: FitResult) -> MethodRow:
    opt = fit.optimum
    # Approach 2 on runs that were not designed as IsoFLOP sweeps finds "budgets" by coincidence
    comparable = fit.method != "approach2" or sum(b.accepted and len(b.params) >= 5 for b in fit.budgets) >= 3
    return MethodRow(method=fit.method, a=fit.a, b=fit.b, params_opt=opt and opt.params, tokens_opt=opt and opt.tokens,
                     comparable=comparable)


def compare_methods(df: pd.DataFrame, options: FitOptions, result: FitResult) -> list[MethodRow]:
    """Approaches 1-3 and Kaplan on the same runs (no bootstrap), those that apply; `result` is reused.
    For a data-constrained fit they see only the single-epoch runs (their laws know nothing of repeats)."""
    rows = []
    if "unique_tokens" in df and result.method == "data_constrained":
        df = df[df["tokens"] <= df["unique_tokens"] * 1.0001]
    for method in ("approach1", "approach2", "approach3", "kaplan"):
        if method == result.method:
            rows.append(_row(result))
            continue
        if method == "approach1" and not runs.has_curves(df):
            continue
        # only a, b and the optimum are shown: no bootstrap, no held-out refit
        opt = options.model_copy(update={"method": method, "bootstrap": 0, "compare": False, "holdout_fraction": 0})
        try:
            rows.append(_row(FITS[method](df, opt)))
        except (PlannerError, ValueError, np.linalg.LinAlgError) as err:
            rows.append(MethodRow(method=method, error=str(err).splitlines()[0]))
    return rows


def law_of(result: FitResult):
    """The fitted law (the base law of a data-constrained fit), or None where it is not a valid law."""
    try:
        law = to_law(result, "fitted")
    except ValueError:
        return None
    return law.base if isinstance(result, DataConstrainedFit) else law


def _no_optimum_note(result: FitResult, flops: float) -> str:
    """Why a fit has no optimum at the target budget (the law is unusable, or the budget too small)."""
    try:
        law = to_law(result, "fitted")
        (law.base if isinstance(result, DataConstrainedFit) else law).optimal(flops)
    except ValueError as err:  # PlannerError, or pydantic's refusal of the fitted constants
        return f"no optimum at {flops:.3g} FLOPs: {str(err).splitlines()[0]}"
    return f"no optimum at {flops:.3g} FLOPs: the fitted exponents do not give a usable law"


def _run_index(points: pd.DataFrame) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(points["run"])
    return codes, len(uniques)


def _residuals(points: pd.DataFrame, predicted: np.ndarray) -> Diagnostics:
    res = np.log(predicted) - np.log(points["loss"].to_numpy())
    rows = [Residual(run=str(r.run), params=r.params, tokens=r.tokens, flops=r.flops, loss=r.loss, predicted=float(p),
                     residual_log=float(e)) for r, p, e in zip(points.itertuples(), predicted, res)]
    return Diagnostics(rmse_log=float(np.sqrt(np.mean(res**2))), residuals=rows)


def _heldout_runs(points: pd.DataFrame, fraction: float) -> list[str]:
    """The largest runs (by params, then tokens), at least one, leaving at least 5 runs to fit."""
    sizes = points.groupby("run")[["params", "tokens"]].max().sort_values(["params", "tokens"])
    count = min(max(1, int(round(fraction * len(sizes)))), len(sizes) - 5)
    return [] if fraction == 0 or count < 1 else sizes.index[-count:].astype(str).tolist()


# --- Approach 3 ---------------------------------------------------------------------------------------


def _solve(x, y, t, opt: FitOptions, delta: float, weights=None, warm=None):
    """(theta, objective, alternatives, starts used) by the chosen solver."""
    if opt.solver == "varpro":
        theta, f, alt = varpro.fit(x, y, t, weights, delta, overestimate_penalty=opt.overestimate_penalty)
        return theta, f, alt, varpro.N_STARTS
    g = opt.grid
    starts = parametric.hoffmann_grid(g.alpha, g.beta, g.e, g.a, g.b) if warm is None else warm
    theta, f, alt = parametric.fit_parametric(x, y, t, weights=weights, starts=starts, delta=delta)
    return theta, f, alt, len(starts)


def _approach3(df: pd.DataFrame, opt: FitOptions) -> ParametricFit:
    pts = select_points(df, opt.points, opt.warmup_fraction)
    if len(pts) < MIN_POINTS_PARAMETRIC or pts["params"].nunique() < 2 or pts["tokens"].nunique() < 2:
        raise PlannerError(f"Approach 3 needs at least {MIN_POINTS_PARAMETRIC} points with at least two model "
                           f"sizes and two token counts (got {len(pts)} points, {pts['params'].nunique()} sizes)")
    x, y, t = (np.log(pts[c].to_numpy()) for c in ("params", "tokens", "loss"))
    delta = opt.delta if opt.loss == "huber" else 1e12  # a huge delta makes the Huber loss squared
    theta, f, alternatives, n_starts = _solve(x, y, t, opt, delta)
    law = _chinchilla(theta)
    result = ParametricFit(method="approach3", n_points=len(pts), n_runs=pts["run"].nunique(), a=law.a, b=law.b,
                           E=law.E, A=law.A, B=law.B, alpha=law.alpha, beta=law.beta, objective=f, delta=delta,
                           loss_function=opt.loss, n_starts=n_starts)
    diag = _residuals(pts, law.loss(pts["params"].to_numpy(), pts["tokens"].to_numpy()))
    held = _heldout_runs(pts, opt.holdout_fraction)
    if held:
        mask = pts["run"].astype(str).isin(held).to_numpy()
        th = _solve(x, y, t, opt, delta, (~mask).astype(float), np.vstack([theta, alternatives]))[0]
        err = np.log(_chinchilla(th).loss(np.exp(x), np.exp(y))) - t
        diag = diag.model_copy(update={"heldout_runs": held, "heldout_rmse_log": float(np.sqrt(np.mean(err[mask]**2))),
                                       "refit_rmse_log": float(np.sqrt(np.mean(err[~mask]**2)))})
    update = {"diagnostics": diag, "optimum": _law_optimum(law, opt.target_flops)}
    if law.alpha <= 0 or law.beta <= 0:
        update["notes"] = [f"fitted exponents alpha={law.alpha:.3g}, beta={law.beta:.3g}: not a usable law; "
                           "the runs may not span enough sizes and token counts"]
    if opt.bootstrap:
        update.update(_bootstrap_parametric(pts, x, y, t, np.vstack([theta, alternatives]), delta, opt,
                                            diag.rmse_log))
    return result.model_copy(update=update)


def _chinchilla(theta, name: str = "fitted") -> ChinchillaLaw:
    a, b, e, alpha, beta = map(float, theta)
    return ChinchillaLaw.model_construct(name=name, citation="fitted by scaleplan (Approach 3)", note="",
                                         family="chinchilla", E=np.exp(e), A=np.exp(a), B=np.exp(b),
                                         alpha=alpha, beta=beta)


def _law_optimum(law, flops: float | None) -> Optimum | None:
    """The compute-optimal run at `flops` under a fitted law (None without a budget or a usable law)."""
    if flops is None or getattr(law, "alpha", 1) <= 0 or getattr(law, "beta", 1) <= 0:
        return None
    try:
        best = law.optimal(flops)
    except PlannerError:  # the budget is too small for any model under this law
        return None
    return Optimum(flops=flops, params=best.params, tokens=best.tokens, loss=best.loss)


def _bootstrap_parametric(pts, x, y, t, warm, delta, opt: FitOptions, rmse_log: float) -> dict:
    """All resamples in one batch: each is a weight vector on the points, warm-started from the full fit
    (plus up to two competitive runner-up optima) instead of from the 4,500-point grid."""
    codes, n_runs = _run_index(pts)
    weights = bootstrap_weights(codes, n_runs, opt.bootstrap, opt.seed, opt.resample)
    k, s = len(weights), len(warm)
    per_batch = max(1, int(parametric.MAX_BATCH_ELEMENTS // (s * len(x))))  # resamples per batch
    best = []
    for i in range(0, k, per_batch):
        w = weights[i:i + per_batch]
        theta, f = parametric.batched_minimize(np.tile(warm, (len(w), 1)), x, y, t, np.repeat(w, s, axis=0), delta,
                                               prune={}, **BOOTSTRAP_STEPS)
        best.append(theta.reshape(len(w), s, 5)[np.arange(len(w)), np.argmin(f.reshape(len(w), s), axis=1)])
    best = np.concatenate(best)
    a, b, e, alpha, beta = best.T
    samples = {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta,
               "a": beta / (alpha + beta), "b": alpha / (alpha + beta)}
    if opt.target_flops:
        optima = [_law_optimum(_chinchilla(theta), opt.target_flops) for theta in best]
        for key in ("params", "tokens", "loss"):
            samples[f"{key}_opt"] = np.array([np.nan if o is None else getattr(o, key) for o in optima])
    out = {"ci": intervals(samples), "bootstrap_samples": {k_: v.tolist() for k_, v in samples.items() if k_ in ("a", "b")}}
    if opt.target_flops:  # the runs' scatter about the full fit (warm[0]): its residuals' RMSE
        out["prediction"] = prediction_intervals(samples, rmse_log, opt.seed)
    return out


# --- Approaches 1 and 2 -------------------------------------------------------------------------------


def _allocation_result(method, a, k, pts, opt, **extra) -> AllocationFit:
    k_tokens = 1 / (FLOPS_PER_PARAM_TOKEN * k)  # D = C / (6 k C^a)
    optimum = None
    if opt.target_flops:
        n = k * opt.target_flops**a
        optimum = Optimum(flops=opt.target_flops, params=n, tokens=opt.target_flops / (FLOPS_PER_PARAM_TOKEN * n))
    return AllocationFit(method=method, n_points=len(pts), n_runs=pts["run"].nunique(), a=a, b=1 - a, k_params=k,
                         k_tokens=k_tokens, optimum=optimum, **extra)


def _allocation_bootstrap(fit_one, codes, n_runs, opt: FitOptions) -> dict:
    """Refit for each resample of runs (each fit takes milliseconds); skipped resamples are counted."""
    weights = bootstrap_weights(codes, n_runs, opt.bootstrap, opt.seed, opt.resample)
    a_s, k_s = [], []
    for w in weights:
        try:
            a, k = fit_one(w)
        except PlannerError:
            continue  # this resample lost too many budgets / sizes to fit
        a_s.append(a)
        k_s.append(k)
    if len(a_s) < max(10, opt.bootstrap // 2):
        return {"notes": [f"bootstrap: only {len(a_s)} of {opt.bootstrap} resamples could be fitted; no intervals"]}
    a_s, k_s = np.array(a_s), np.array(k_s)
    samples = {"a": a_s, "b": 1 - a_s, "k_params": k_s}
    if opt.target_flops:
        n = k_s * opt.target_flops**a_s
        samples.update(params_opt=n, tokens_opt=opt.target_flops / (FLOPS_PER_PARAM_TOKEN * n))
    notes = [] if len(a_s) == opt.bootstrap else [f"bootstrap: {opt.bootstrap - len(a_s)} resamples could not be fitted"]
    out = {"ci": intervals(samples), "bootstrap_samples": {"a": a_s.tolist(), "b": (1 - a_s).tolist()}, "notes": notes}
    if opt.target_flops:
        out["prediction"] = prediction_intervals(samples, None, opt.seed)
    return out


def _approach2(df: pd.DataFrame, opt: FitOptions) -> AllocationFit:
    curves = df if runs.has_curves(df) else None
    points, notes = allocation.isoflop_points(select_points(df, "final"), opt.budgets, curves)
    points = points.reset_index(drop=True)
    a, k, budgets = allocation.approach2(points)
    rejected = [f"budget {r.flops:.3g} FLOPs rejected: {r.reason}" for r in budgets if not r.accepted]
    good = [r for r in budgets if r.accepted]
    fitted = k * np.array([r.flops for r in good]) ** a
    res = np.log(fitted) - np.log([r.params_opt for r in good])
    diag = Diagnostics(rmse_log=float(np.sqrt(np.mean(res**2))))
    if len(good) >= 3:  # refit without the largest budget and predict its optimum size
        a_h, k_h = allocation.power_law(np.array([r.flops for r in good[:-1]]), np.array([r.params_opt for r in good[:-1]]))
        err = np.log(k_h * good[-1].flops**a_h / good[-1].params_opt)
        diag = diag.model_copy(update={"heldout_runs": [f"budget {good[-1].flops:.3g}"], "heldout_rmse_log": float(abs(err))})
    result = _allocation_result("approach2", a, k, points, opt, budgets=budgets, diagnostics=diag,
                                notes=notes + rejected + ["rmse_log is of the optimal size N_opt(C), not of the loss"])
    if opt.bootstrap:
        codes, n_runs = _run_index(points)
        boot = _allocation_bootstrap(lambda w: allocation.approach2(points, w)[:2], codes, n_runs, opt)
        result = result.model_copy(update={**boot, "notes": result.notes + boot.get("notes", [])})
    return result


def _approach1(df: pd.DataFrame, opt: FitOptions) -> AllocationFit:
    if not runs.has_curves(df):
        raise PlannerError("Approach 1 needs loss curves (several evaluations per run); these runs have "
                           "one point each: use Approach 2 or 3")
    levels = allocation.envelope_levels(df)
    matrix = allocation.curve_matrix(df, levels)
    a, k, frontier = allocation.approach1(df, matrix, levels)
    res = np.log(k * np.array([p.flops for p in frontier]) ** a) - np.log([p.params for p in frontier])
    result = _allocation_result("approach1", a, k, df, opt, frontier=frontier,
                                diagnostics=Diagnostics(rmse_log=float(np.sqrt(np.mean(res**2)))),
                                notes=["rmse_log is of the optimal size N_opt(C) along the frontier, not of the loss"])
    if opt.bootstrap:
        n_runs = df["run"].nunique()  # one weight per run: approach1 takes a mask over the runs
        boot = _allocation_bootstrap(lambda w: allocation.approach1(df, matrix, levels, w > 0)[:2], np.arange(n_runs),
                                     n_runs, opt)
        result = result.model_copy(update={**boot, "notes": result.notes + boot.get("notes", [])})
    return result


# --- Kaplan and data-constrained ----------------------------------------------------------------------


def _kaplan(df: pd.DataFrame, opt: FitOptions) -> KaplanFit:
    pts = select_points(df, opt.points, opt.warmup_fraction)
    fit = other_laws.fit_kaplan(pts, opt.loss, opt.delta)
    law = other_laws.kaplan_law(fit)
    diag = _residuals(pts, law.loss(pts["params"].to_numpy(), pts["tokens"].to_numpy()))
    # The optimum minimises the fitted L(N, D) along C = 6ND (other_laws.kaplan_optimal_k), so it is the
    # fitted law's own, not Kaplan's published N_opt = 1.3e9 C^0.73.
    result = KaplanFit(method="kaplan", n_points=len(pts), n_runs=pts["run"].nunique(), diagnostics=diag, **fit,
                       optimum=_law_optimum(law, opt.target_flops),
                       notes=["a, b and the optimum come from minimising the fitted L(N, D) at fixed C = 6ND; "
                              "Kaplan's own allocation exponent (0.73) was read from compute-efficient frontiers"])
    if opt.bootstrap:
        codes, n_runs = _run_index(pts)
        weights = bootstrap_weights(codes, n_runs, opt.bootstrap, opt.seed, opt.resample)
        samples = []
        for w in weights:
            try:
                samples.append(other_laws.fit_kaplan(pts, opt.loss, opt.delta, w, start=fit))
            except PlannerError:  # this resample has no finite fit (its scales ran off): skipped, and counted
                pass
        if len(samples) < max(10, opt.bootstrap // 2):
            note = f"bootstrap: only {len(samples)} of {opt.bootstrap} resamples could be fitted; no intervals"
            return result.model_copy(update={"notes": result.notes + [note]})
        if len(samples) < opt.bootstrap:
            result = result.model_copy(update={"notes": result.notes + [
                f"bootstrap: {opt.bootstrap - len(samples)} resamples could not be fitted"]})
        keys = ("N_c", "D_c", "alpha_N", "alpha_D", "a", "b")
        dist = {k: np.array([s[k] for s in samples]) for k in keys}
        if opt.target_flops:
            optima = [_law_optimum(other_laws.kaplan_law(s), opt.target_flops) for s in samples]
            for key in ("params", "tokens", "loss"):
                dist[f"{key}_opt"] = np.array([np.nan if o is None else getattr(o, key) for o in optima])
        result = result.model_copy(update={"ci": intervals(dist)})
    return result


def _data_constrained(df: pd.DataFrame, opt: FitOptions) -> DataConstrainedFit:
    if "unique_tokens" not in df or df["unique_tokens"].isna().any():
        raise PlannerError("the data-constrained law needs a unique_tokens column (unique tokens in the "
                           "training data of each run)")
    pts = select_points(df, opt.points, opt.warmup_fraction)
    fit, base_source = other_laws.fit_data_constrained(pts, opt)
    law = other_laws.data_constrained_law(fit)
    diag = _residuals(pts, law.loss(pts["params"].to_numpy(), pts["tokens"].to_numpy(), pts["unique_tokens"].to_numpy()))
    optimum = _law_optimum(law.base, opt.target_flops)
    notes = ["bootstrap intervals are not computed for the data-constrained fit"] if opt.bootstrap else []
    return DataConstrainedFit(notes=notes, method="data_constrained", n_points=len(pts), n_runs=pts["run"].nunique(),
                              a=law.a, b=law.b, diagnostics=diag, optimum=optimum, base_source=base_source, **fit)


FITS.update(approach1=_approach1, approach2=_approach2, approach3=_approach3, kaplan=_kaplan,
            data_constrained=_data_constrained)


# --- saving -------------------------------------------------------------------------------------------


def to_law(result: FitResult, name: str, citation: str = "fitted by scaleplan from uploaded runs"):
    """The fitted law as a planner law (to save with planner.core.laws.save_law and pick on the Plan page)."""
    if isinstance(result, ParametricFit):
        return ChinchillaLaw(name=name, citation=citation, E=result.E, A=result.A, B=result.B,
                             alpha=result.alpha, beta=result.beta)
    if isinstance(result, AllocationFit):
        return PowerLawAllocation(name=name, citation=citation, k_params=result.k_params, a=result.a,
                                  loss_law=PRESETS[DEFAULT_LAW],
                                  note=f"{result.method}: the loss shown is {DEFAULT_LAW}'s, these fits give no loss")
    if isinstance(result, KaplanFit):
        return other_laws.kaplan_law(result.model_dump(), name=name, citation=citation)
    return other_laws.data_constrained_law(result.model_dump(), name=name, citation=citation)
