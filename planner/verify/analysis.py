"""What a launched ladder shows: each run's status, the fits (typed), the held-out check and the ETA.

Job results are read back as `RunResult` here, at the feature's edge; pages and views see only the
typed models below.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from planner.core.laws import PRESETS as LAW_PRESETS
from planner.core.laws import ChinchillaLaw
from planner.errors import PlannerError
from planner.fitting import AllocationFit, FitOptions, ParametricFit, fit_runs
from planner.jobs.store import JobStore
from planner.verify.design import LadderDesign, get_design, load_design
from planner.verify.grid import FIT_ROLES, LadderRun, Role
from planner.verify.job import TrainSpec, read_result

MIN_FIT_RUNS = 6
ETA_EVIDENCE = 0.1  # share of the estimated work after which measured pace and design estimate weigh equally


class PublishedExponent(BaseModel):
    law: str
    a: float = Field(description="N_opt ∝ C^a")
    b: float = Field(description="D_opt ∝ C^b")
    citation: str


def published_exponents() -> list[PublishedExponent]:
    """Every published law's allocation exponents, derived from planner.core.laws.PRESETS (one home)."""
    return [PublishedExponent(law=law.name, a=law.a, b=law.b, citation=law.citation) for law in LAW_PRESETS.values()]


class LadderRunStatus(BaseModel):
    job_id: int
    name: str
    role: Role
    budget_flops: float
    params: float
    tokens: int
    flops: float
    final_loss: float | None = Field(default=None, description="held-out loss at the end (nats/token)")
    status: str
    error: str | None = None
    progress: float = 0.0
    tokens_per_s: float | None = None
    mfu: float | None = None
    seconds: float | None = Field(default=None, description="device time this run spent training")
    cpu_seconds: float | None = Field(default=None, description="process CPU time while training (on CPU: the "
                                      "device time, robust to other processes on the machine)")
    parent: str | None = None


class HoldoutCheck(BaseModel):
    """The larger run left out of the fit: what the small runs predicted for it, and what it measured."""

    name: str
    params: float
    tokens: int
    flops: float
    predicted_loss: dict[str, float] = Field(default_factory=dict, description="by method")
    measured_loss: float | None = None
    error_pct: dict[str, float] = Field(default_factory=dict, description="(predicted - measured) / measured")


class LadderFit(BaseModel):
    a: float | None = Field(default=None, description="N_opt ∝ C^a (Approach 2 if it fitted, else Approach 3)")
    b: float | None = Field(default=None, description="D_opt ∝ C^b")
    method: str | None = None
    approach2: AllocationFit | None = None
    approach3: ParametricFit | None = None
    published: list[PublishedExponent] = Field(default_factory=published_exponents)
    notes: list[str] = []


class LadderReport(BaseModel):
    ladder_id: str
    design: str = "isoflop"
    device: str
    finished: bool
    runs: list[LadderRunStatus]
    fit: LadderFit
    holdout: HoldoutCheck | None = None
    est_seconds: float
    elapsed_s: float
    device_seconds: float = Field(default=0.0, description="training time of all runs so far, summed")
    device_cpu_seconds: float = Field(default=0.0, description="their process CPU time while training, summed")
    progress: float = Field(default=0.0, description="share of the ladder's estimated work done")
    eta_s: float | None = Field(default=None, description="remaining seconds (see estimate_eta)")
    tokens_per_s: float | None = Field(default=None, description="summed over the runs training now")


def _status(job, run: LadderRun, tail: dict | None) -> LadderRunStatus:
    res = read_result(job)
    tail = tail or {}
    return LadderRunStatus(job_id=job.id, name=run.name, role=run.role, budget_flops=run.budget_flops,
                           params=run.params, tokens=res.tokens if res else run.tokens,
                           flops=res.flops if res else run.flops, final_loss=res.final_loss if res else None,
                           status=job.status, error=job.error, progress=job.progress,
                           tokens_per_s=res.tokens_per_s if res else tail.get("tokens_per_s"),
                           mfu=res.mfu if res else tail.get("mfu"), seconds=res.seconds if res else None,
                           cpu_seconds=res.cpu_seconds if res else None,
                           parent=run.parent)


def ladder_status(ladder_id: str, store=None) -> tuple[LadderDesign, list[LadderRunStatus], list]:
    store = store or JobStore()
    design = load_design(ladder_id)
    jobs = store.list_jobs(group=ladder_id)
    by_name = {r.name: r for r in design.runs}
    out = []
    for job in jobs:
        run = by_name[TrainSpec.model_validate(job.spec).meta["run"]]
        logged = store.metrics(job.id) if job.status == "running" else []
        out.append(_status(job, run, logged[-1] if logged else None))
    return design, out, jobs


_FITS: dict[tuple, LadderFit] = {}  # pages poll every few seconds; a fit (~0.5-1 s) is redone only when it changes
MAX_CACHED_FITS = 64  # a long-lived server watches many ladders: keep only the latest fits


def fit_ladder(runs: list[LadderRunStatus], budgets: list[float],
               methods: tuple[str, ...] = ("approach2", "approach3")) -> LadderFit:
    """The design's fits via planner.fitting, on its finished fit points only (IsoFLOP runs or WSD
    cooldowns): the held-out run must not be seen by the fit it checks. Cached on exactly what the fit
    reads, so a run that starts, fails or is cancelled does not refit."""
    points = [r for r in runs if r.role in FIT_ROLES]
    done = [r for r in points if r.status == "done" and r.final_loss is not None]
    key = (tuple(budgets), methods, len(points), tuple((r.name, r.params, r.tokens, r.flops, r.final_loss)
                                                       for r in done))
    if key not in _FITS:
        while len(_FITS) >= MAX_CACHED_FITS:
            _FITS.pop(next(iter(_FITS)))  # the oldest
        _FITS[key] = _fit_ladder(done, len(points), budgets, methods)
    return _FITS[key].model_copy(deep=True)


def _fit_ladder(done: list[LadderRunStatus], points: int, budgets: list[float], methods: tuple[str, ...]) -> LadderFit:
    fit = LadderFit(notes=[] if len(done) == points else [f"fitted on the {len(done)} runs finished so far"])
    if len(done) < MIN_FIT_RUNS:
        fit.notes.append(f"too few finished runs to fit (need {MIN_FIT_RUNS})")
        return fit
    df = pd.DataFrame([{"run": r.name, "params": r.params, "tokens": r.tokens, "flops": r.flops,
                        "loss": r.final_loss} for r in done])
    for method in methods:
        try:
            result = fit_runs(df, FitOptions(method=method, budgets=budgets, holdout_fraction=0))
        except PlannerError as err:
            fit.notes.append(f"{method}: {err}")
            continue
        setattr(fit, method, result)
        if fit.a is None and result.a is not None:
            fit.a, fit.b, fit.method = result.a, result.b, method
    return fit


def predict_holdout(fit: LadderFit, run: LadderRunStatus) -> dict[str, float]:
    """Held-out loss predicted by each fit that has a loss: Approach 3's L(N, D) directly, and the
    IsoFLOP model (parabola vertices and curvature extrapolated in log C) from Approach 2."""
    out = {}
    p = fit.approach3
    if p and min(p.E, p.A, p.B, p.alpha, p.beta) > 0:  # a fit on few runs can end on a bound
        law = ChinchillaLaw(name="ladder", citation="this ladder", E=p.E, A=p.A, B=p.B, alpha=p.alpha, beta=p.beta)
        out["approach3"] = float(law.loss(run.params, run.tokens))
    good = [b for b in (fit.approach2.budgets if fit.approach2 else []) if b.accepted]
    if len(good) >= 2:
        log_c = np.log([b.flops for b in good])
        x_opt = np.polyval(np.polyfit(log_c, np.log([b.params_opt for b in good]), 1), np.log(run.flops))
        log_l = np.polyval(np.polyfit(log_c, np.log([b.loss_opt for b in good]), 1), np.log(run.flops))
        curvature = float(np.mean([b.coefficients[2] for b in good]))
        out["approach2"] = float(np.exp(log_l) + curvature * (np.log(run.params) - x_opt) ** 2)
    return out


def _holdout_check(fit: LadderFit, runs: list[LadderRunStatus]) -> HoldoutCheck | None:
    for r in runs:
        if r.role == "holdout":
            predicted = predict_holdout(fit, r)
            errors = {k: 100 * (v - r.final_loss) / r.final_loss for k, v in predicted.items()} if r.final_loss else {}
            return HoldoutCheck(name=r.name, params=r.params, tokens=r.tokens, flops=r.flops,
                                predicted_loss=predicted, measured_loss=r.final_loss, error_pct=errors)
    return None


def analyze_ladder(ladder_id: str, store=None) -> LadderReport:
    design, runs, jobs = ladder_status(ladder_id, store)
    budgets = sorted({r.budget_flops for r in design.runs if r.role == "isoflop"})
    fit = fit_ladder(runs, budgets, get_design(design.design).fit_methods)
    now = time.time()
    started = min((j.started_at for j in jobs if j.started_at), default=None)
    ended = max((j.finished_at or now for j in jobs), default=None)
    weights = {r.name: r.est_seconds for r in design.runs}
    progress = sum(weights[r.name] * (1.0 if r.status in ("done", "failed", "cancelled") else r.progress)
                   for r in runs) / max(sum(weights.values()), 1e-9)
    running = [r.tokens_per_s for r in runs if r.status == "running" and r.tokens_per_s]
    finished = all(j.finished for j in jobs)
    return LadderReport(ladder_id=ladder_id, design=design.design, device=design.device, finished=finished,
                        runs=runs, fit=fit, holdout=_holdout_check(fit, runs), est_seconds=design.est_seconds,
                        elapsed_s=(ended - started) if started and ended else 0.0,
                        device_seconds=sum(r.seconds or 0.0 for r in runs),
                        device_cpu_seconds=sum(r.cpu_seconds or 0.0 for r in runs), progress=progress,
                        eta_s=None if finished else estimate_eta(weights, runs, jobs, now),
                        tokens_per_s=sum(running) if running else None)


def estimate_eta(est_seconds: dict[str, float], runs: list[LadderRunStatus], jobs: list, now: float) -> float:
    """Remaining seconds: the design's estimate of the work left, times how much slower (or faster) the
    runs so far took than estimated. The measured ratio is blended with 1 by how much estimated work it
    rests on, so a first run's start-up time (importing torch, building the tokenizer) does not turn
    into an hour-long ETA; a wall-clock extrapolation from 1% progress did (66.8 min for a 1.5 min ladder)."""
    spent = expected = 0.0
    for run, job in zip(runs, jobs):
        if job.started_at and (run.status == "done" or (run.status == "running" and run.progress > 0)):
            share = 1.0 if run.status == "done" else run.progress
            spent += (job.finished_at or now) - job.started_at
            expected += est_seconds[run.name] * share
    total = max(sum(est_seconds.values()), 1e-9)
    weight = (expected / total) / (expected / total + ETA_EVIDENCE)
    pace = weight * (spent / expected if expected > 0 else 1.0) + (1 - weight)
    left = sum(est_seconds[r.name] * (1 - r.progress) for r in runs if r.status in ("queued", "running"))
    parallel = max(1, sum(r.status == "running" for r in runs))  # one run per device slot
    return pace * left / parallel


def ladder_curves(ladder_id: str, store=None) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """Logged metrics of every run of the ladder ({run name: rows}) and each run's budget."""
    store = store or JobStore()
    curves, budgets = {}, {}
    for job in store.list_jobs(group=ladder_id):
        meta = TrainSpec.model_validate(job.spec).meta
        curves[meta["run"]] = store.metrics(job.id)
        budgets[meta["run"]] = meta["budget_flops"]
    return curves, budgets
