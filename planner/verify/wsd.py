"""The WSD ladder: one warmup-stable-decay run per model size, and short cooldown branches started from
its stable-phase checkpoints at several token horizons (tokens per parameter), each a job of its own.

Hägele et al. 2024 ("Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations", arXiv
2405.18392, §3-4): a constant LR with a cooldown over the last ~20% of the steps reaches the loss of a
cosine schedule of that length, so one stable run serves every horizon it passes; the cooldowns' final
losses are the (N, D) points of the fit (Approach 3, L(N, D), since they do not lie on IsoFLOP lines).
Hu et al. 2024 (MiniCPM, §4) use the same scheme for their scaling experiments.

The sizes span the IsoFLOP design's smallest size up to the held-out run's size; branches past the largest
budget are left out, so the fit covers the same compute range as the IsoFLOP ladder on the same budget grid
and extrapolates the same distance to the held-out point.

The held-out point is the same (N, D) as the IsoFLOP design's from-scratch cosine run, but obtained as one
more cooldown branch of the largest size's stable run, continued to the held-out horizon: by the same
result (Hägele et al. 2024, §3, Fig. 3-5: a cooldown reaches the loss of a cosine run of that length) it
stands for the from-scratch run, and it costs only the steps past the fit's last branch point. It is not
a fit point (role "holdout"); like the IsoFLOP held-out run, it shares the seed and data order with the fit
runs, and here also the stable phase of that one size. benchmarks/bench_wsd_ladder.py measures the branch's
loss against the from-scratch run's (the IsoFLOP ladder's held-out run, same seed).
"""
from __future__ import annotations

import math

import numpy as np

from planner.core.architecture import flops_per_token
from planner.errors import PlannerError
from planner.verify.grid import MIN_SIZES, MIN_STEPS, Grid, LadderRun, make_run, shapes_near
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


def _size_runs(cfg, g: Grid, held: LadderRun | None = None) -> list[LadderRun]:
    """The stable run of one size and its cooldown branches; with `held` (a run of this size), the
    stable run goes on to the held-out horizon's branch point and the held-out run is its last branch."""
    horizons = _branch_steps(cfg, g)
    if len(horizons) < MIN_BRANCHES and held is None:
        return []
    share = g.req.cooldown_share
    starts = [s - max(1, round(share * s)) for s in horizons]
    held_start = held.steps - max(1, round(share * held.steps)) if held else 0
    first = horizons[0] if horizons else held.steps
    warmup = max(1, round(g.train.warmup_frac * first))  # every branch shares the parent's warmup
    stable_name = f"stable-{cfg.name}"
    fpt = flops_per_token(cfg, seq_len=g.train.seq_len).total
    last = max(starts + [held_start])
    stable = make_run(stable_name, "stable", last * g.train.tokens_per_step * fpt, cfg, g, steps=last,
                      schedule="wsd", warmup_steps=warmup, decay_frac=0.0,
                      branch_steps=sorted(set(starts + ([held_start] if held else []))))

    def branch(name, role, budget, steps, start):
        return make_run(name, role, budget, cfg, g, steps=steps, start_step=start, schedule="wsd",
                        warmup_steps=warmup, decay_frac=(steps - start) / steps, parent=stable_name)

    runs = [stable] + [branch(f"cool-{cfg.name}-D{steps * g.train.tokens_per_step:.2g}", "cooldown",
                              steps * g.train.tokens_per_step * fpt, steps, start)
                       for steps, start in zip(horizons, starts)]
    if held:
        runs.append(branch(held.name, "holdout", held.budget_flops, held.steps, held_start))
    return runs


def _shapes(g: Grid, smallest_params: float, held: LadderRun) -> tuple[list, bool]:
    """The sizes: log-even from the IsoFLOP design's smallest up to the one whose middle horizon spends the
    largest budget; the largest is swapped for the held-out run's size when that size reaches at least
    MIN_BRANCHES horizons within the budget (then the held-out point is a branch of its stable run).
    Otherwise (a held-out run far beyond the fit's sizes, as in the gpu preset) a branch would save
    nothing, and the held-out run is the from-scratch cosine run."""
    largest = math.sqrt(max(g.budgets) / (6 * float(np.median(horizons_of(g)))))
    targets = np.geomspace(smallest_params, max(largest, smallest_params * 1.5), g.sizes)
    if len(_branch_steps(held.model, g)) < MIN_BRANCHES:
        return shapes_near(targets, g), False
    key = (held.model.d_model, held.model.n_layers)
    below = [c for c in shapes_near(targets[:-1], g) if (c.d_model, c.n_layers) != key]
    return sorted(below + [held.model], key=compute_params), True


def wsd_runs(g: Grid, smallest_params: float, held: LadderRun) -> tuple[list[LadderRun], list[str]]:
    """Stable runs first (so parallel workers start them together), then every cooldown branch, then the
    held-out point (`held`: the IsoFLOP design's held-out run), as a branch where it can be one."""
    shapes, branched = _shapes(g, smallest_params, held)
    stables, branches, warnings = [], [], []
    for cfg in shapes:
        runs = _size_runs(cfg, g, held if branched and cfg is held.model else None)
        if not runs:
            warnings.append(f"{cfg.name} left out: fewer than {MIN_BRANCHES} of the horizons {horizons_of(g)} "
                            f"tokens/param fit between {MIN_STEPS} steps and the largest budget")
            continue
        stables.append(runs[0])
        branches += runs[1:]
    if len(stables) < MIN_SIZES:  # a held-out run alone (or two sizes) has nothing to fit: refuse, as IsoFLOP does
        raise PlannerError(f"only {len(stables)} model size(s) have {MIN_BRANCHES}+ of the horizons "
                           f"{horizons_of(g)} tokens/param between {MIN_STEPS} steps and the largest budget (a fit "
                           f"needs {MIN_SIZES}): choose horizons nearer 5-80 tokens/param, or raise the budgets")
    last = [r for r in branches if r.role == "holdout"] or [held]
    return stables + [r for r in branches if r.role != "holdout"] + last, warnings
