"""The WSD ladder: one warmup-stable-decay run per model size, and short cooldown branches started from
its stable-phase checkpoints at several token horizons (tokens per parameter), each a job of its own.

Hägele et al. 2024 ("Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations", arXiv
2405.18392, §3-4): a constant LR with a cooldown over the last ~20% of the steps reaches the loss of a
cosine schedule of that length, so one stable run serves every horizon it passes; the cooldowns' final
losses are the (N, D) points of the fit (Approach 3, L(N, D), since they do not lie on IsoFLOP lines).
Hu et al. 2024 (MiniCPM, §4) use the same scheme for their scaling experiments.

The sizes span the IsoFLOP design's smallest size up to the size whose middle horizon spends the largest
budget; branches past the largest budget are left out, so the fit covers the same compute range as the
IsoFLOP ladder on the same budget grid and extrapolates the same distance to the held-out run.
"""
from __future__ import annotations

import math

import numpy as np

from planner.core.architecture import flops_per_token
from planner.verify.grid import MIN_STEPS, Grid, LadderRun, make_run, shapes_near
from planner.verify.shapes import compute_params

MIN_BRANCHES = 2  # a size with fewer horizons adds no information on D


def horizons_of(g: Grid) -> list[float]:
    return sorted(g.req.horizons or g.preset.wsd_horizons)


def _branch_steps(cfg, g: Grid) -> list[int]:
    """Steps of each horizon this size reaches within the largest budget (at least MIN_STEPS each)."""
    fpt = flops_per_token(cfg, seq_len=g.train.seq_len).total
    n, per_step = compute_params(cfg), g.train.tokens_per_step
    steps = sorted({round(r * n / per_step) for r in horizons_of(g)})
    return [s for s in steps if s >= MIN_STEPS and s * per_step * fpt <= 1.1 * max(g.budgets)]


def _size_runs(cfg, g: Grid) -> list[LadderRun]:
    """The stable run of one size and its cooldown branches."""
    horizons = _branch_steps(cfg, g)
    if len(horizons) < MIN_BRANCHES:
        return []
    share = g.req.cooldown_share
    starts = [s - max(1, round(share * s)) for s in horizons]
    warmup = max(1, round(g.train.warmup_frac * horizons[0]))  # every branch shares the parent's warmup
    stable_name = f"stable-{cfg.name}"
    fpt = flops_per_token(cfg, seq_len=g.train.seq_len).total
    stable = make_run(stable_name, "stable", max(starts) * g.train.tokens_per_step * fpt, cfg, g,
                      steps=max(starts), schedule="wsd", warmup_steps=warmup, decay_frac=0.0,
                      branch_steps=sorted(set(starts)))
    runs = [stable]
    for steps, start in zip(horizons, starts):
        budget = steps * g.train.tokens_per_step * fpt
        runs.append(make_run(f"cool-{cfg.name}-D{steps * g.train.tokens_per_step:.2g}", "cooldown", budget, cfg,
                             g, steps=steps, start_step=start, schedule="wsd", warmup_steps=warmup,
                             decay_frac=(steps - start) / steps, parent=stable_name))
    return runs


def wsd_runs(g: Grid, smallest_params: float) -> tuple[list[LadderRun], list[str]]:
    """Stable runs first (so parallel workers start them together), then every cooldown branch."""
    horizons = horizons_of(g)
    middle = float(np.median(horizons))
    largest = math.sqrt(max(g.budgets) / (6 * middle))
    targets = np.geomspace(smallest_params, max(largest, smallest_params * 1.5), g.sizes)
    stables, branches, warnings = [], [], []
    for cfg in shapes_near(targets, g):
        runs = _size_runs(cfg, g)
        if not runs:
            warnings.append(f"{cfg.name} left out: fewer than {MIN_BRANCHES} of the horizons {horizons} tokens/param "
                            f"fit between {MIN_STEPS} steps and the largest budget")
            continue
        stables.append(runs[0])
        branches += runs[1:]
    return stables + branches, warnings
