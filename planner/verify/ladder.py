"""Verification ladders: design an IsoFLOP grid of small runs plus one held-out larger run, launch it
as jobs, and analyse what came back (Approach 2 and 3 fits, and the held-out prediction).

The design puts, for each FLOP budget C, `sizes_per_budget` models log-evenly around a prior optimum
N ~ sqrt(C / (6 r)) (r tokens per parameter; Chinchilla's r = 20), spread `size_spread`x either way,
so each IsoFLOP curve has a minimum inside it (Hoffmann et al. 2022, §3.2). Every run's tokens are
C / flops_per_token of its shape, and its LR schedule spans exactly those tokens (see loop.py).
"""
from __future__ import annotations

import json
import math
import secrets
import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from planner.core import format as fmt
from planner.core.architecture import ModelConfig, flops_per_token
from planner.errors import PlannerError
from planner.core.settings import data_dir
from planner.train.corpus import CorpusSpec, estimated_bytes
from planner.train.loop import TrainConfig
from planner.train.model import compute_params, ladder_shape, smallest_params

MIN_STEPS = 20  # fewer optimizer steps than this is not a training run
BYTES_PER_TOKEN = 3.0  # byte-level BPE on source code, vocab 8k-32k (~2.3 at vocab 512): a rough guide
MAX_EPOCHS = 4  # Muennighoff et al. 2023: up to ~4 epochs of repeated data are almost as good as fresh
# Assumed throughput before any run was measured on this machine. CPU: what one thread did (FLOP/s) for
# 20k-300k parameter models on the 2-core dev box; CUDA: this share of the accelerator's dense BF16 peak.
ASSUMED_CPU_FLOPS_PER_S = 3e9
ASSUMED_MFU = 0.35
DEFAULT_ACCELERATOR = "H100-SXM"
MIN_BUDGETS, MIN_SIZES = 3, 3  # fewer usable IsoFLOP curves (or points on one) do not pin down an exponent
MAX_GPU_HOURS = 1000.0  # ~6 weeks of one device: beyond it, a "verification" ladder is a training campaign
PUBLISHED_EXPONENTS = [  # N_opt ∝ C^a, D_opt ∝ C^b (Hoffmann et al. 2022, Table 2)
    {"law": "Hoffmann 2022, Approach 2", "a": 0.49, "b": 0.51},
    {"law": "Hoffmann 2022, Approach 3", "a": 0.46, "b": 0.54},
    {"law": "Kaplan 2020", "a": 0.73, "b": 0.27},
]


class LadderPreset(BaseModel):
    budgets_flops: list[float]
    sizes_per_budget: int
    vocab_size: int
    seq_len: int
    batch_size: int
    lr: float
    corpus_max_bytes: int | None
    holdout_factor: float
    checkpoint_every_s: float = 60.0
    tokens_per_param_prior: float = 20.0
    size_spread: float = 4.0
    note: str


PRESETS: dict[str, LadderPreset] = {
    # Tiny CPU ladders: runs this short prefer many tokens per parameter, and below ~5k parameters no
    # shape is left, so the prior and spread are set for sizes of 5k-100k parameters.
    "tiny": LadderPreset(budgets_flops=[8e9, 2.4e10, 7.2e10], sizes_per_budget=4, vocab_size=512, seq_len=64,
                         batch_size=16, lr=1e-2, corpus_max_bytes=2_000_000, holdout_factor=2, checkpoint_every_s=2,
                         tokens_per_param_prior=10, size_spread=3,
                         note="CPU ladder for CI: 3 budgets x 4 sizes of 5k-100k params, ~2 minutes on 2 cores"),
    "micro": LadderPreset(budgets_flops=[3e9, 1e10, 3e10], sizes_per_budget=4, vocab_size=512, seq_len=64,
                          batch_size=16, lr=1e-2, corpus_max_bytes=1_000_000, holdout_factor=2, checkpoint_every_s=2,
                          tokens_per_param_prior=10, size_spread=3,
                          note="the smallest CPU ladder (browser test): about a minute on 2 cores"),
    "gpu": LadderPreset(budgets_flops=[1e15, 3e15, 1e16], sizes_per_budget=5, vocab_size=8192, seq_len=1024,
                        batch_size=32, lr=2e-3, corpus_max_bytes=None, holdout_factor=10,
                        note="3 budgets x 5 sizes, held-out run at 1e17 FLOPs, on one GPU "
                             "(~1.7e17 FLOPs in all: under 10 minutes at 35% MFU on an H100; not yet measured)"),
}


class LadderRequest(BaseModel):
    """What the user asks for; unset fields come from the preset."""

    preset: str = "tiny"
    device: Literal["cpu", "cuda"] = "cpu"
    budgets_flops: list[float] | None = Field(default=None, description="IsoFLOP budgets (2-5)")
    sizes_per_budget: int | None = Field(default=None, ge=3, le=7, description="model sizes per budget")
    gpu_hours: float | None = Field(default=None, gt=0, description="scale the budgets to fit this much time")
    accelerator: str | None = Field(default=None, description="for cost and assumed throughput, e.g. 'H100'")
    family: Literal["llama", "gpt2"] = "llama"
    tokens_per_param_prior: float | None = Field(default=None, gt=0, description="where to centre the sizes")
    size_spread: float | None = Field(default=None, gt=1, description="largest/centre size ratio per budget")
    budget_ratio: float = Field(default=3.0, gt=1, description="ratio between budgets when scaled to gpu_hours")
    holdout_factor: float | None = Field(default=None, gt=1, description="held-out run compute / largest budget")
    corpus: CorpusSpec | None = None
    seed: int = 0

    @field_validator("budgets_flops")
    @classmethod
    def _budgets(cls, v):
        if v is not None and not (2 <= len(v) <= 5 and all(math.isfinite(c) and c > 0 for c in v)):
            raise PlannerError("give 2 to 5 positive FLOP budgets (3-5 recommended)")
        return sorted(v) if v else v

    def resolved_preset(self) -> LadderPreset:
        if self.preset not in PRESETS:
            raise PlannerError(f"unknown ladder preset {self.preset!r}; choose one of: {', '.join(PRESETS)}")
        return PRESETS[self.preset]


class LadderRun(BaseModel):
    name: str
    role: Literal["isoflop", "holdout"]
    budget_flops: float
    params: float = Field(description="compute params N: matmul weights incl. the LM head (C ≈ 6·N·D + attention)")
    tokens: int
    flops: float
    steps: int
    est_seconds: float
    model: ModelConfig


class LadderDesign(BaseModel):
    request: LadderRequest
    device: str
    runs: list[LadderRun]
    train: TrainConfig = Field(description="shared training settings; each run sets its own tokens")
    corpus: CorpusSpec
    total_flops: float
    est_seconds: float = Field(description="sum over runs, on one device slot")
    est_gpu_hours: float | None
    est_usd: float | None
    throughput_flops_per_s: float
    throughput_source: str
    warnings: list[str] = []


# ---------------------------------------------------------------------------------------- design
def measured_throughput(device: str, accelerator: str | None = None) -> tuple[float, str]:
    """Median achieved FLOP/s of finished training runs on this kind of device, else an assumption
    (on CUDA: ASSUMED_MFU of the accelerator's dense BF16 peak)."""
    from planner.core.hardware import get_accelerator
    from planner.jobs.store import JobStore

    rates = [j.result["flops"] / j.result["seconds"] for j in JobStore().list_jobs(kind="train")
             if j.status == "done" and j.result and j.result.get("device", "").startswith(device)
             and j.result.get("seconds", 0) > 0]
    if rates:
        return float(np.median(rates)), f"measured: median of {len(rates)} finished runs on {device}"
    if device == "cpu":
        return ASSUMED_CPU_FLOPS_PER_S, f"assumed ({ASSUMED_CPU_FLOPS_PER_S:.2g} FLOP/s); no run measured yet"
    acc = get_accelerator(accelerator or DEFAULT_ACCELERATOR)
    return ASSUMED_MFU * acc.peak_flops, (f"assumed: {ASSUMED_MFU:.0%} MFU on {acc.name} ({acc.bf16_tflops:.0f} "
                                          "TFLOP/s dense BF16 peak); no run measured on cuda yet")


def _scaled_budgets(req: LadderRequest, preset: LadderPreset, rate: float, sizes: int) -> list[float]:
    """The largest budget C whose ladder (sizes x budgets falling by budget_ratio, plus the held-out
    run) fits in gpu_hours at the measured rate; keeps the preset's number of budgets."""
    count, holdout = len(preset.budgets_flops), req.holdout_factor or preset.holdout_factor
    available = req.gpu_hours * 3600 * rate
    per_top = sizes * sum(req.budget_ratio ** -i for i in range(count)) + holdout
    top = float(f"{available / per_top:.2g}")
    return [top / req.budget_ratio ** i for i in reversed(range(count))]


def _run(name, role, budget, cfg: ModelConfig, train: TrainConfig, rate: float) -> LadderRun:
    fpt = flops_per_token(cfg, seq_len=train.seq_len).total
    steps = max(MIN_STEPS, round(budget / fpt / train.tokens_per_step))
    tokens = steps * train.tokens_per_step
    return LadderRun(name=name, role=role, budget_flops=budget, params=compute_params(cfg), tokens=tokens,
                     flops=tokens * fpt, steps=steps, est_seconds=tokens * fpt / rate, model=cfg)


def _sizes_for(budget: float, req: LadderRequest, sizes: int, preset: LadderPreset, seq_len: int) -> list[ModelConfig]:
    centre = math.sqrt(budget / (6 * (req.tokens_per_param_prior or preset.tokens_per_param_prior)))
    targets = centre * (req.size_spread or preset.size_spread) ** np.linspace(-1, 1, sizes)
    shapes = {}
    for t in np.maximum(targets, smallest_params(req.family, preset.vocab_size, seq_len)):
        cfg = ladder_shape(float(t), family=req.family, vocab_size=preset.vocab_size, seq_len=seq_len)
        shapes[(cfg.d_model, cfg.n_layers)] = cfg  # two targets may snap to one shape: keep it once
    return sorted(shapes.values(), key=compute_params)


def _isoflop_runs(budgets, req, preset, train, rate, sizes) -> tuple[list[LadderRun], list[str]]:
    runs, warnings = [], []
    for budget in budgets:
        for cfg in _sizes_for(budget, req, sizes, preset, train.seq_len):
            run = _run(f"C{budget:.2g}-{cfg.name}", "isoflop", budget, cfg, train, rate)
            if run.flops > 1.1 * budget:  # off the IsoFLOP curve: it would only bias the parabola
                warnings.append(f"{run.name} left out: {MIN_STEPS} steps already cost {run.flops:.3g} FLOPs")
                continue
            runs.append(run)
    return runs, warnings


def _usable_budgets(runs: list[LadderRun], budgets: list[float]) -> int:
    return sum(sum(r.budget_flops == b for r in runs) >= MIN_SIZES for b in budgets)


def _enough(runs, budgets) -> bool:
    return _usable_budgets(runs, budgets) >= min(MIN_BUDGETS, len(budgets))


def _minimum_gpu_hours(req, preset, train, rate, sizes) -> float:
    """The smallest device-time budget whose scaled ladder has enough usable budgets x sizes
    (a geometric bisection; each step only shapes models, it trains nothing)."""
    def ok(hours):
        budgets = _scaled_budgets(req.model_copy(update={"gpu_hours": hours}), preset, rate, sizes)
        return _enough(_isoflop_runs(budgets, req, preset, train, rate, sizes)[0], budgets)

    lo, hi = req.gpu_hours, req.gpu_hours
    while not ok(hi) and hi < MAX_GPU_HOURS:
        lo, hi = hi, hi * 4
    for _ in range(8):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def _check_budgets(runs, budgets, req, preset, train, rate, sizes) -> None:
    if _enough(runs, budgets):
        return
    need = f"at least {min(MIN_BUDGETS, len(budgets))} budgets with {MIN_SIZES}+ model sizes each"
    if req.gpu_hours:
        minimum = _minimum_gpu_hours(req, preset, train, rate, sizes)
        raise PlannerError(f"a device-time budget of {req.gpu_hours:.3g} hours is too small for a ladder ({need}; "
                           f"got {_usable_budgets(runs, budgets)}): give at least {_round_up(minimum):.2g} hours "
                           f"({fmt.duration(minimum * 3600)}), or 0 for the preset's budgets")
    raise PlannerError(f"these FLOP budgets are too small for a ladder ({need}; got {_usable_budgets(runs, budgets)}, "
                       f"since every run needs {MIN_STEPS}+ steps): raise the smallest budget")


def _round_up(x: float) -> float:
    """Up to two significant figures, so the minimum we quote is never just below the real one."""
    step = 10 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / step) * step


def design_ladder(req: LadderRequest) -> LadderDesign:
    preset = req.resolved_preset()
    if req.gpu_hours and req.gpu_hours > MAX_GPU_HOURS:
        raise PlannerError(f"a device-time budget of {req.gpu_hours:.3g} hours ({fmt.duration(req.gpu_hours * 3600)}) "
                           f"is far beyond a verification ladder: give at most {MAX_GPU_HOURS:.0f} hours "
                           f"({fmt.duration(MAX_GPU_HOURS * 3600)}); the presets take minutes")
    sizes = req.sizes_per_budget or preset.sizes_per_budget
    rate, source = measured_throughput(req.device, req.accelerator)
    budgets = req.budgets_flops or preset.budgets_flops
    if req.gpu_hours:
        budgets = _scaled_budgets(req, preset, rate, sizes)
    train = TrainConfig(tokens=1, batch_size=preset.batch_size, seq_len=preset.seq_len, lr=preset.lr,
                        seed=req.seed, device=req.device, checkpoint_every_s=preset.checkpoint_every_s)
    runs, warnings = _isoflop_runs(budgets, req, preset, train, rate, sizes)
    _check_budgets(runs, budgets, req, preset, train, rate, sizes)
    holdout_budget = max(budgets) * (req.holdout_factor or preset.holdout_factor)
    held = _sizes_for(holdout_budget, req.model_copy(update={"size_spread": 1.0001}), 1, preset, train.seq_len)[0]
    runs.append(_run(f"holdout-C{holdout_budget:.2g}-{held.name}", "holdout", holdout_budget, held, train, rate))
    for budget in budgets:
        count = sum(r.budget_flops == budget for r in runs)
        if count < sizes:
            warnings.append(f"budget {budget:.2g} FLOPs: only {count} model sizes (shapes ran out at the small "
                            "end, or runs were too short); its parabola is less certain")
    corpus = req.corpus or CorpusSpec(max_bytes=preset.corpus_max_bytes)
    corpus_tokens = estimated_bytes(corpus) * (1 - corpus.heldout_fraction) / BYTES_PER_TOKEN
    epochs = max(r.tokens for r in runs) / max(corpus_tokens, 1.0)
    if epochs > MAX_EPOCHS:
        warnings.append(f"the largest run reads the corpus about {epochs:.0f} times (~{corpus_tokens:.2g} training "
                        f"tokens); beyond ~{MAX_EPOCHS} epochs repeated data lowers the losses' worth "
                        "(Muennighoff et al. 2023): point the ladder at a larger corpus")
    total = sum(r.flops for r in runs)
    seconds = sum(r.est_seconds for r in runs)
    if seconds > MAX_GPU_HOURS * 3600:
        raise PlannerError(f"this ladder would take ~{fmt.duration(seconds)} on one device, more than "
                           f"{MAX_GPU_HOURS:.0f} hours: lower the budgets")
    hours, usd = _gpu_cost(req, seconds)
    return LadderDesign(request=req, device=req.device, runs=runs, train=train, corpus=corpus, total_flops=total,
                        est_seconds=seconds, est_gpu_hours=hours, est_usd=usd, throughput_flops_per_s=rate,
                        throughput_source=source, warnings=warnings)


def _gpu_cost(req: LadderRequest, seconds: float) -> tuple[float | None, float | None]:
    """GPU-hours and on-demand dollars on the chosen accelerator (an unknown name is an error)."""
    if req.device == "cpu":
        return None, None
    from planner.core.budget import SECONDS_PER_HOUR, gpu_hours_to_usd

    hours = seconds / SECONDS_PER_HOUR
    return hours, gpu_hours_to_usd(hours, req.accelerator or DEFAULT_ACCELERATOR)


# ---------------------------------------------------------------------------------------- launch
def ladder_path(ladder_id: str):
    return data_dir() / "ladders" / f"{ladder_id}.json"


def launch_ladder(design: LadderDesign, runner=None, store=None) -> str:
    """Queue every run of the design as a "train" job in one group; returns the ladder id.
    The runner (default: local) first checks it can run the design's device, so a launch that could
    never run (cuda on a machine without a GPU) is refused before anything is written."""
    from planner.jobs.runners import get_runner
    from planner.jobs.store import JobStore
    from planner.verify.job import TrainSpec

    (runner or get_runner("local")).check_device(design.device)
    store = store or JobStore()
    ladder_id = f"ladder-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    path = ladder_path(ladder_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(design.model_dump_json())
    for run in design.runs:
        train = design.train.model_copy(update={"tokens": run.tokens})
        meta = {"ladder": ladder_id, "run": run.name, "role": run.role, "budget_flops": run.budget_flops}
        spec = TrainSpec(model=run.model, train=train, corpus=design.corpus, meta=meta)
        store.submit("train", spec.model_dump(mode="json"), group=ladder_id, device=design.device)
    return ladder_id


def load_design(ladder_id: str) -> LadderDesign:
    path = ladder_path(ladder_id)
    if not path.exists():
        raise PlannerError(f"no ladder {ladder_id!r}; the Runs page and `python -m planner jobs` list them")
    return LadderDesign.model_validate_json(path.read_text())


def list_ladders() -> list[str]:
    folder = data_dir() / "ladders"
    return sorted((p.stem for p in folder.glob("ladder-*.json")), reverse=True) if folder.exists() else []


# ---------------------------------------------------------------------------------------- analysis
class LadderRunStatus(BaseModel):
    job_id: int
    name: str
    role: Literal["isoflop", "holdout"]
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
    approach2: dict | None = None
    approach3: dict | None = None
    published: list[dict] = PUBLISHED_EXPONENTS
    notes: list[str] = []


class LadderReport(BaseModel):
    ladder_id: str
    device: str
    finished: bool
    runs: list[LadderRunStatus]
    fit: LadderFit
    holdout: HoldoutCheck | None = None
    est_seconds: float
    elapsed_s: float
    progress: float = Field(default=0.0, description="share of the ladder's estimated work done")
    eta_s: float | None = Field(default=None, description="remaining seconds (see estimate_eta)")
    tokens_per_s: float | None = Field(default=None, description="summed over the runs training now")


def _status(job, run: LadderRun, metrics_tail: dict | None) -> LadderRunStatus:
    res = job.result or {}
    return LadderRunStatus(job_id=job.id, name=run.name, role=run.role, budget_flops=run.budget_flops,
                           params=run.params, tokens=res.get("tokens", run.tokens), flops=res.get("flops", run.flops),
                           final_loss=res.get("final_loss"), status=job.status, error=job.error,
                           progress=job.progress, tokens_per_s=res.get("tokens_per_s") or (metrics_tail or {}).get("tokens_per_s"),
                           mfu=res.get("mfu") or (metrics_tail or {}).get("mfu"))


def ladder_status(ladder_id: str, store=None) -> tuple[LadderDesign, list[LadderRunStatus], list]:
    from planner.jobs.store import JobStore

    store = store or JobStore()
    design = load_design(ladder_id)
    jobs = store.list_jobs(group=ladder_id)
    by_name = {r.name: r for r in design.runs}
    out = []
    for job in jobs:
        run = by_name[job.spec["meta"]["run"]]
        tail = None
        if job.status == "running":
            logged = store.metrics(job.id)
            tail = logged[-1] if logged else None
        out.append(_status(job, run, tail))
    return design, out, jobs


_FITS: dict[tuple, LadderFit] = {}  # pages poll every few seconds; refit only when a run finishes


def fit_ladder(runs: list[LadderRunStatus], budgets: list[float]) -> LadderFit:
    key = (tuple(budgets), tuple((r.name, r.role, r.status, r.final_loss) for r in runs))
    if key not in _FITS:
        _FITS[key] = _fit_ladder(runs, budgets)
    return _FITS[key].model_copy(deep=True)


def _fit_ladder(runs: list[LadderRunStatus], budgets: list[float]) -> LadderFit:
    """Approach 2 (IsoFLOP parabolas) and Approach 3 (parametric L(N, D)) via planner.fitting, on the
    finished IsoFLOP runs only: the held-out run must not be seen by the fit it checks."""
    import pandas as pd

    from planner.fitting import FitOptions, fit_runs

    done = [r for r in runs if r.role == "isoflop" and r.status == "done" and r.final_loss is not None]
    fit = LadderFit(notes=[] if len(done) == sum(r.role == "isoflop" for r in runs)
                    else [f"fitted on the {len(done)} IsoFLOP runs finished so far"])
    if len(done) < 6:
        fit.notes.append("too few finished runs to fit (need 6)")
        return fit
    df = pd.DataFrame([{"run": r.name, "params": r.params, "tokens": r.tokens, "flops": r.flops,
                        "loss": r.final_loss} for r in done])
    for method in ("approach2", "approach3"):
        try:
            result = fit_runs(df, FitOptions(method=method, budgets=budgets, holdout_fraction=0))
        except PlannerError as err:
            fit.notes.append(f"{method}: {err}")
            continue
        setattr(fit, method, result.model_dump(mode="json"))
        if fit.a is None and result.a is not None:
            fit.a, fit.b, fit.method = result.a, result.b, method
    return fit


def predict_holdout(fit: LadderFit, run: LadderRunStatus) -> dict[str, float]:
    """Held-out loss predicted by each fit that has a loss: Approach 3's L(N, D) directly, and the
    IsoFLOP model (parabola vertices and curvature extrapolated in log C) from Approach 2."""
    from planner.core.laws import ChinchillaLaw

    out = {}
    p = fit.approach3
    if p and min(p["E"], p["A"], p["B"], p["alpha"], p["beta"]) > 0:  # a fit on few runs can end on a bound
        law = ChinchillaLaw(name="ladder", citation="this ladder", E=p["E"], A=p["A"], B=p["B"],
                            alpha=p["alpha"], beta=p["beta"])
        out["approach3"] = float(law.loss(run.params, run.tokens))
    good = [b for b in (fit.approach2 or {}).get("budgets", []) if b["accepted"]]
    if len(good) >= 2:
        log_c = np.log([b["flops"] for b in good])
        x_opt = np.polyval(np.polyfit(log_c, np.log([b["params_opt"] for b in good]), 1), np.log(run.flops))
        log_l = np.polyval(np.polyfit(log_c, np.log([b["loss_opt"] for b in good]), 1), np.log(run.flops))
        curvature = float(np.mean([b["coefficients"][2] for b in good]))
        out["approach2"] = float(np.exp(log_l) + curvature * (np.log(run.params) - x_opt) ** 2)
    return out


def analyze_ladder(ladder_id: str, store=None) -> LadderReport:
    design, runs, jobs = ladder_status(ladder_id, store)
    budgets = sorted({r.budget_flops for r in design.runs if r.role == "isoflop"})
    fit = fit_ladder(runs, budgets)
    holdout = None
    for r in runs:
        if r.role == "holdout":
            predicted = predict_holdout(fit, r)
            holdout = HoldoutCheck(name=r.name, params=r.params, tokens=r.tokens, flops=r.flops,
                                   predicted_loss=predicted, measured_loss=r.final_loss,
                                   error_pct={k: 100 * (v - r.final_loss) / r.final_loss for k, v in predicted.items()}
                                   if r.final_loss else {})
    now = time.time()
    started = min((j.started_at for j in jobs if j.started_at), default=None)
    ended = max((j.finished_at or now for j in jobs), default=None)
    elapsed = (ended - started) if started and ended else 0.0
    weights = {r.name: r.est_seconds for r in design.runs}
    progress = sum(weights[r.name] * (1.0 if r.status in ("done", "failed", "cancelled") else r.progress)
                   for r in runs) / max(sum(weights.values()), 1e-9)
    running = [r.tokens_per_s for r in runs if r.status == "running" and r.tokens_per_s]
    finished = all(j.finished for j in jobs)
    return LadderReport(ladder_id=ladder_id, device=design.device, finished=finished,
                        runs=runs, fit=fit, holdout=holdout, est_seconds=design.est_seconds, elapsed_s=elapsed,
                        progress=progress, eta_s=None if finished else estimate_eta(weights, runs, jobs, now),
                        tokens_per_s=sum(running) if running else None)


ETA_EVIDENCE = 0.1  # share of the estimated work after which measured pace and design estimate weigh equally


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
    from planner.jobs.store import JobStore

    store = store or JobStore()
    curves, budgets = {}, {}
    for job in store.list_jobs(group=ladder_id):
        name = job.spec["meta"]["run"]
        curves[name] = store.metrics(job.id)
        budgets[name] = job.spec["meta"]["budget_flops"]
    return curves, budgets


def keep_workers(ladder_id: str, runner) -> list[int]:
    """Start workers if the ladder has queued runs and its device has none alive (after a restart,
    or once idle workers have exited). Returns the new workers' pids."""
    from planner.jobs.store import JobStore

    jobs = JobStore().list_jobs(group=ladder_id)
    if not any(j.status == "queued" for j in jobs):
        return []
    return runner.ensure_workers(load_design(ladder_id).device)


def cancel_ladder(ladder_id: str) -> int:
    from planner.jobs.store import JobStore

    store = JobStore()
    active = [j for j in store.list_jobs(group=ladder_id) if not j.finished]
    for job in active:
        store.cancel(job.id)
    return len(active)


def retry_failed(ladder_id: str, runner=None) -> int:
    """Queue the ladder's failed and cancelled runs again (each resumes from its checkpoint), once the
    runner (default: local) has confirmed it can run the ladder's device; otherwise nothing changes."""
    from planner.jobs.runners import get_runner
    from planner.jobs.store import JobStore

    (runner or get_runner("local")).check_device(load_design(ladder_id).device)
    store = JobStore()
    again = [j for j in store.list_jobs(group=ladder_id) if j.status in ("failed", "cancelled")]
    for job in again:
        store.retry(job.id)
    return len(again)


def wait_for_ladder(ladder_id: str, runner, timeout_s: float, on_progress=None, poll_s: float = 1.0) -> LadderReport:
    """Poll until every run has finished, restarting workers that died (their run stays failed)."""
    from planner.jobs.store import JobStore

    store, deadline, last_ensure = JobStore(), time.time() + timeout_s, 0.0
    while time.time() < deadline:
        jobs = store.list_jobs(group=ladder_id)
        if all(j.finished for j in jobs):
            return analyze_ladder(ladder_id, store)
        if time.time() - last_ensure > 5:
            keep_workers(ladder_id, runner)
            last_ensure = time.time()
        if on_progress:
            on_progress(jobs)
        time.sleep(poll_s)
    raise PlannerError(f"ladder {ladder_id} did not finish within {timeout_s:.0f} s; it keeps running in the "
                       f"background: `python -m planner ladder --ladder {ladder_id}` shows where it stands")
