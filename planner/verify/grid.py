"""What every ladder design shares: the presets, the request, one run of a design, the device's throughput
and the model sizes around a FLOP budget's prior optimum.

For each FLOP budget C the sizes sit log-evenly around a prior optimum N ~ sqrt(C / (6 r)) (r tokens per
parameter; Chinchilla's r = 20), spread `size_spread`x either way, so each IsoFLOP curve has a minimum
inside it (Hoffmann et al. 2022, §3.2). A run's tokens are its compute / flops_per_token of its shape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from planner.core.architecture import ModelConfig, flops_per_token
from planner.core.budget import DEFAULT_ACCELERATOR, DEFAULT_MFU
from planner.core.hardware import get_accelerator
from planner.errors import PlannerError
from planner.jobs.store import JobStore
from planner.train.corpus import CorpusSpec
from planner.train.loop import WSD_COOLDOWN_SHARE, TrainConfig
from planner.verify.job import read_result
from planner.verify.shapes import compute_params, ladder_shape, smallest_params

MIN_STEPS = 20  # fewer optimizer steps than this is not a training run
MIN_BUDGETS, MIN_SIZES = 3, 3  # fewer usable IsoFLOP curves (or points on one) do not pin down an exponent
# Assumed throughput before any run was measured on this machine. CPU: what one thread did (FLOP/s) for
# 20k-300k parameter models on the 2-core dev box; CUDA: this share of the accelerator's dense BF16 peak.
ASSUMED_CPU_FLOPS_PER_S = 3e9
ASSUMED_MFU = DEFAULT_MFU  # the planner's one default MFU (planner/core/budget.py)
# torch.compile takes ~30-60 s per process for these models (an assumption until the GPU suite measures
# it): a run shorter than this on "auto" trains eagerly rather than spend most of its time compiling.
COMPILE_MIN_S = 120.0
RUN_KINDS = ("ladder-run", "train")  # the job kind of a ladder run, and its name before the rename
Role = Literal["isoflop", "holdout", "stable", "cooldown"]
FIT_ROLES = ("isoflop", "cooldown")  # runs whose final loss is a point of the fit


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
    wsd_horizons: list[float] = Field(default=[5, 10, 20, 40, 80], description="WSD: cooldown branch points "
                                      "in tokens per parameter (Hägele et al. 2024, arXiv 2405.18392)")
    note: str


# WSD horizons of the CPU presets: x2 apart around their prior of 10 tokens/param (the gpu preset's 5-80
# sit around Chinchilla's 20). Measured on the tiny preset (benchmarks/RESULTS.md, "WSD ladder vs IsoFLOP
# ladder"): the whole verification (held-out branch included) 0.42x the IsoFLOP one's CPU time, at a held-out
# error of +3.8 +- 1.0% vs +2.2 +- 0.9%; 5-80 took 0.45-0.51x of the ladder's runs alone in the first pass.
TINY_HORIZONS = [2, 4, 8, 16, 32]

PRESETS: dict[str, LadderPreset] = {
    # Tiny CPU ladders: runs this short prefer many tokens per parameter, and below ~5k parameters no
    # shape is left, so the prior and spread are set for sizes of 5k-100k parameters.
    "tiny": LadderPreset(budgets_flops=[8e9, 2.4e10, 7.2e10], sizes_per_budget=4, vocab_size=512, seq_len=64,
                         batch_size=16, lr=1e-2, corpus_max_bytes=2_000_000, holdout_factor=2, checkpoint_every_s=2,
                         tokens_per_param_prior=10, size_spread=3, wsd_horizons=TINY_HORIZONS,
                         note="CPU ladder for CI: 3 budgets x 4 sizes of 5k-100k params, ~2 minutes on 2 cores"),
    "micro": LadderPreset(budgets_flops=[3e9, 1e10, 3e10], sizes_per_budget=4, vocab_size=512, seq_len=64,
                          batch_size=16, lr=1e-2, corpus_max_bytes=1_000_000, holdout_factor=2, checkpoint_every_s=2,
                          tokens_per_param_prior=10, size_spread=3, wsd_horizons=TINY_HORIZONS,
                          note="the smallest CPU ladder (browser test): about a minute on 2 cores"),
    "gpu": LadderPreset(budgets_flops=[1e15, 3e15, 1e16], sizes_per_budget=5, vocab_size=8192, seq_len=1024,
                        batch_size=32, lr=2e-3, corpus_max_bytes=None, holdout_factor=10,
                        note="3 budgets x 5 sizes, held-out run at 1e17 FLOPs, on one GPU "
                             "(~1.7e17 FLOPs in all: under 10 minutes at 35% MFU on an H100; not yet measured)"),
}


class LadderRequest(BaseModel):
    """What the user asks for; unset fields come from the preset."""

    preset: str = "tiny"
    design: str = Field(default="isoflop", description="isoflop, or wsd (one run per size + cooldown branches)")
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
    cooldown_share: float = Field(default=WSD_COOLDOWN_SHARE, gt=0, lt=1,
                                  description="WSD: cooldown length as a share of each branch's horizon")
    horizons: list[float] | None = Field(default=None, description="WSD: branch points in tokens per "
                                         "parameter (default: the preset's)")
    corpus: CorpusSpec | None = None
    seed: int = 0

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v):
        if v is not None and not (2 <= len(v) <= 10 and all(math.isfinite(h) and h > 0 for h in v)):
            raise PlannerError("give 2 to 10 positive WSD horizons (tokens per parameter)")
        return sorted(v) if v else v

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
    role: Role
    budget_flops: float
    params: float = Field(description="compute params N: matmul weights incl. the LM head (C ≈ 6·N·D + attention)")
    tokens: int = Field(description="tokens the model has seen at the end (a cooldown: its parent's included)")
    flops: float = Field(description="the model's training compute at the end: tokens x flops per token")
    device_flops: float = Field(description="compute this run itself spends (a cooldown: only its own steps)")
    steps: int
    est_seconds: float
    model: ModelConfig
    schedule: Literal["cosine", "wsd"] = "cosine"
    warmup_steps: int | None = None
    decay_frac: float | None = Field(default=None, description="wsd: cooldown share of the run's steps")
    branch_steps: list[int] = Field(default_factory=list, description="stable run: checkpoints kept for branches")
    parent: str | None = Field(default=None, description="cooldown: the stable run it starts from")
    start_step: int = Field(default=0, description="cooldown: the parent's step it starts from")

    def train_config(self, shared: TrainConfig) -> TrainConfig:
        """This run's training settings: the design's shared ones with its own tokens and schedule."""
        update = {"tokens": self.tokens, "schedule": self.schedule, "warmup_steps": self.warmup_steps,
                  "branch_steps": self.branch_steps}
        if self.decay_frac is not None:
            update["decay_frac"] = self.decay_frac
        if shared.compile == "auto" and shared.device != "cpu":
            update["compile"] = "on" if self.est_seconds >= COMPILE_MIN_S else "off"
        return shared.model_copy(update=update)


@dataclass
class Grid:
    """One design's inputs: the budgets, the request and preset, shared training settings, the rate."""

    budgets: list[float]
    req: LadderRequest
    preset: LadderPreset
    train: TrainConfig
    rate: float
    sizes: int


def make_run(name: str, role: Role, budget: float, cfg: ModelConfig, g: Grid, steps: int | None = None,
             start_step: int = 0, **schedule) -> LadderRun:
    """A run of `steps` steps (default: the budget's), of which it trains those after `start_step`."""
    fpt = flops_per_token(cfg, seq_len=g.train.seq_len).total
    steps = steps or max(MIN_STEPS, round(budget / fpt / g.train.tokens_per_step))
    tokens = steps * g.train.tokens_per_step
    own = (steps - start_step) * g.train.tokens_per_step * fpt
    return LadderRun(name=name, role=role, budget_flops=budget, params=compute_params(cfg), tokens=tokens,
                     flops=tokens * fpt, device_flops=own, steps=steps, est_seconds=own / g.rate, model=cfg,
                     start_step=start_step, **schedule)


def sizes_for(budget: float, g: Grid, sizes: int, spread: float | None = None) -> list[ModelConfig]:
    """Up to `sizes` distinct shapes log-evenly around the budget's prior optimum, smallest first."""
    centre = math.sqrt(budget / (6 * (g.req.tokens_per_param_prior or g.preset.tokens_per_param_prior)))
    targets = centre * (spread or g.req.size_spread or g.preset.size_spread) ** np.linspace(-1, 1, sizes)
    return shapes_near(targets, g)


def shapes_near(targets, g: Grid) -> list[ModelConfig]:
    shapes = {}
    for t in np.maximum(targets, smallest_params(g.req.family, g.preset.vocab_size, g.train.seq_len)):
        cfg = ladder_shape(float(t), family=g.req.family, vocab_size=g.preset.vocab_size, seq_len=g.train.seq_len)
        shapes[(cfg.d_model, cfg.n_layers)] = cfg  # two targets may snap to one shape: keep it once
    return sorted(shapes.values(), key=compute_params)


def measured_throughput(device: str, accelerator: str | None = None) -> tuple[float, str]:
    """Median achieved FLOP/s of finished ladder runs on this kind of device, else an assumption
    (on CUDA: ASSUMED_MFU of the accelerator's dense BF16 peak)."""
    rates = []
    try:
        jobs = [j for kind in RUN_KINDS for j in JobStore().list_jobs(kind=kind)]
    except PlannerError:  # an unreadable job store (its pages say so): design with the assumption
        jobs = []
    for res in map(read_result, jobs):
        if res is not None and res.device.startswith(device) and res.seconds > 0:
            rates.append(res.tokens_per_s * res.flops_per_token)
    if rates:
        return float(np.median(rates)), f"measured: median of {len(rates)} finished runs on {device}"
    if device == "cpu":
        return ASSUMED_CPU_FLOPS_PER_S, f"assumed ({ASSUMED_CPU_FLOPS_PER_S:.2g} FLOP/s); no run measured yet"
    acc = get_accelerator(accelerator or DEFAULT_ACCELERATOR)
    return ASSUMED_MFU * acc.peak_flops, (f"assumed: {ASSUMED_MFU:.0%} MFU on {acc.name} ({acc.bf16_tflops:.0f} "
                                          "TFLOP/s dense BF16 peak); no run measured on cuda yet")
