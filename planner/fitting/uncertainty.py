"""Bootstrap helpers: resamples as integer weights on the points, percentile intervals."""
from __future__ import annotations

import numpy as np

from planner.fitting.results import Interval


def bootstrap_weights(run_of_point: np.ndarray, n_runs: int, resamples: int, seed: int,
                      unit: str = "runs") -> np.ndarray:
    """(resamples, n_points) counts. Resampling runs (default) keeps each run's points together, so
    points of one curve, which are not independent, never count as separate evidence."""
    rng = np.random.default_rng(seed)
    if unit == "points":
        n = len(run_of_point)
        return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)]).astype(float)
    draws = rng.integers(0, n_runs, size=(resamples, n_runs))
    counts = np.stack([np.bincount(row, minlength=n_runs) for row in draws]).astype(float)
    return counts[:, run_of_point]


def intervals(samples: dict[str, np.ndarray], level: float = 0.95) -> dict[str, Interval]:
    """Percentile intervals (and the median) of each bootstrap distribution, ignoring failed resamples."""
    lo, hi = 50 * (1 - level), 50 * (1 + level)
    out = {}
    for name, values in samples.items():
        v = np.asarray(values, float)
        v = v[np.isfinite(v)]
        if v.size:
            out[name] = Interval(low=float(np.percentile(v, lo)), high=float(np.percentile(v, hi)),
                                 median=float(np.median(v)), level=level)
    return out


def prediction_intervals(samples: dict[str, np.ndarray], rmse_log: float | None, seed: int,
                         level: float = 0.95) -> dict[str, Interval]:
    """Intervals on what a run at the target would show: the bootstrap optimum's loss times the scatter of
    runs about the law (log-normal with the fit's RMSE in ln loss); N* and D* are not observed, so their
    interval is the bootstrap's (uncertainty of the fit alone)."""
    rng = np.random.default_rng(seed + 1)
    out = {}
    if "loss_opt" in samples:
        loss = np.asarray(samples["loss_opt"], float)
        out["loss"] = loss * np.exp(rng.normal(0.0, rmse_log or 0.0, loss.size))
    for key in ("params_opt", "tokens_opt"):
        if key in samples:
            out[key] = np.asarray(samples[key], float)
    return intervals(out, level)
