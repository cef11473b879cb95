"""Published training throughputs (data/published_runs.csv) and how the throughput model does on them.

Every row is one run as its paper or benchmark table reports it: shape, accelerator, layout, batch and the
MFU (converted to model FLOPs where the source counted recomputation; the row's note says how). Rows are
split once into `calibration` (the constants of planner.systems.throughput were fitted on these) and
`held-out` (never used for fitting: their error is the one to quote).
"""
from __future__ import annotations

import csv
from functools import lru_cache
from statistics import mean, median
from typing import Literal

from pydantic import BaseModel, Field

from planner.core.architecture import ModelConfig
from planner.core.hardware import get_accelerator
from planner.core.memory import GB, GIB, peak_bytes
from planner.core.settings import DATA_TABLES
from planner.systems.layout import layout_memory_gb, search_layouts
from planner.systems.throughput import Layout, step_time

RUNS_CSV = DATA_TABLES / "published_runs.csv"
ZERO_STAGE = {"none": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3}


class _PublishedShape(BaseModel):
    """A published run's model as its paper gives it; both tables below carry one."""

    id: str
    family: Literal["gpt2", "llama"]
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int | None = None
    d_ff: int
    vocab_size: int
    seq_len: int

    def config(self) -> ModelConfig:
        return ModelConfig(name=self.id, family=self.family, vocab_size=self.vocab_size, d_model=self.d_model,
                           n_layers=self.n_layers, n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
                           d_ff=self.d_ff, max_seq_len=self.seq_len, tie_embeddings=self.family == "gpt2")


class PublishedRun(_PublishedShape):
    split: Literal["calibration", "held-out"]
    gpu: str
    gpus: int
    tp: int
    pp: int
    sharding: str
    micro_batch: int
    global_batch: int = Field(description="sequences per step")
    recompute: Literal["none", "selective", "full"]
    interleave: int = Field(1, description="model chunks per pipeline stage (interleaved 1F1B); 1 = plain 1F1B")
    published_mfu: float
    source: str
    note: str = ""

    def layout(self) -> Layout:
        return Layout(tp=self.tp, pp=self.pp, dp=self.gpus // (self.tp * self.pp),
                      zero_stage=ZERO_STAGE[self.sharding], micro_batch=self.micro_batch, recompute=self.recompute,
                      interleave=self.interleave)


@lru_cache(maxsize=1)
def published_runs() -> tuple[PublishedRun, ...]:
    with RUNS_CSV.open(newline="") as f:
        return tuple(PublishedRun(**{k: (v if v != "" else None) for k, v in row.items()})
                     for row in csv.DictReader(f))


class RunCheck(BaseModel):
    id: str
    split: str
    gpu: str
    gpus: int
    published_mfu: float
    predicted_mfu: float
    error_points: float = Field(description="predicted - published, in MFU percentage points")


class CheckSummary(BaseModel):
    split: str
    runs: int
    mean_abs_points: float
    median_abs_points: float
    max_abs_points: float
    within_5_points: int


def check_run(run: PublishedRun) -> RunCheck:
    predicted = step_time(run.config(), get_accelerator(run.gpu), run.seq_len, run.global_batch, run.layout()).mfu
    return RunCheck(id=run.id, split=run.split, gpu=run.gpu, gpus=run.gpus, published_mfu=run.published_mfu,
                    predicted_mfu=predicted, error_points=100 * (predicted - run.published_mfu))


def check_all() -> list[RunCheck]:
    return [check_run(run) for run in published_runs()]


def summarise(checks: list[RunCheck], split: str) -> CheckSummary:
    errors = [abs(c.error_points) for c in checks if c.split == split]
    return CheckSummary(split=split, runs=len(errors), mean_abs_points=mean(errors),
                        median_abs_points=median(errors), max_abs_points=max(errors),
                        within_5_points=sum(e <= 5 for e in errors))


# --- pretraining memory measurements (data/published_memory.csv) ------------------------------------------
MEMORY_CSV = DATA_TABLES / "published_memory.csv"


class MemoryMeasurement(_PublishedShape):
    gpus: int
    tp: int
    pp: int
    sharding: str
    micro_batch: int
    recompute: Literal["none", "selective", "full"]
    measured_gib: float = Field(description="peak reserved memory per GPU as published, GiB")
    comparable: bool = Field(description="False where the run's setting differs from what the model assumes "
                                         "(the note says how); such rows are shown, not scored")
    source: str
    note: str = ""


class MemoryCheck(BaseModel):
    id: str
    comparable: bool
    measured_gib: float
    predicted_gib: float = Field(description="tensors + fragmentation + runtime (memory.peak_bytes), GiB")
    error: float = Field(description="predicted / measured - 1")


@lru_cache(maxsize=1)
def published_memory() -> tuple[MemoryMeasurement, ...]:
    with MEMORY_CSV.open(newline="") as f:
        return tuple(MemoryMeasurement(**{k: (v if v != "" else None) for k, v in row.items()})
                     for row in csv.DictReader(f))


def check_memory(row: MemoryMeasurement) -> MemoryCheck:
    lay = Layout(tp=row.tp, pp=row.pp, dp=row.gpus // (row.tp * row.pp), zero_stage=ZERO_STAGE[row.sharding],
                 micro_batch=row.micro_batch, recompute=row.recompute)
    predicted = peak_bytes(layout_memory_gb(row.config(), row.seq_len, lay, microbatches=row.pp) * GB) / GIB
    return MemoryCheck(id=row.id, comparable=row.comparable, measured_gib=row.measured_gib,
                       predicted_gib=predicted, error=predicted / row.measured_gib - 1)


# --- what published runs reach of the best layout (`--mfu auto`) -------------------------------------------
# The layout search predicts the MFU of the best layout on a well-tuned current stack; the MFU of a given layout
# is predicted within a few points (check_all), but teams do not all run the best layout (full recomputation
# everywhere in Megatron 2021, no flash attention in 2022, layouts picked before a search). `--mfu auto` plans
# with the share of the best layout's MFU that published runs reached at their own scale (same model, GPUs,
# accelerator, sequence and batch): the median over the calibration rows (0.86; the held-out rows give 0.85),
# and the 10th-90th percentiles (inclusive) as the spread of the hours. `realized_shares()` recomputes them
# from the data; tests/systems/test_layout.py holds these constants to it.
REALIZED_SHARE = 0.86
REALIZED_RANGE = (0.55, 1.09)
REALIZED_SOURCE = ("median over the calibration rows of data/published_runs.csv of published MFU / the MFU "
                   "predicted for the best layout at the run's scale; 10th-90th percentile "
                   f"{REALIZED_RANGE[0]}-{REALIZED_RANGE[1]}")


def expected_mfu(best_layout_mfu: float) -> float:
    """The MFU to plan with: the share of the best layout's predicted MFU that published runs reached."""
    return min(1.0, best_layout_mfu * REALIZED_SHARE)


def hours_range(hours: float) -> tuple[float, float]:
    """GPU-hours planned at expected_mfu, as the hours if the run reaches the 90th / 10th percentile share
    (hours scale as 1 / MFU)."""
    low, high = (hours * REALIZED_SHARE / share for share in reversed(REALIZED_RANGE))
    return low, high


class RealizedShare(BaseModel):
    id: str
    split: str
    published_mfu: float
    best_layout_mfu: float
    share: float = Field(description="published_mfu / best_layout_mfu")


def realized_shares() -> list[RealizedShare]:
    """For each published run: the MFU it reached over the MFU the search predicts for the best layout at its
    scale (its own model, GPU count, accelerator, sequence length and global batch)."""
    found = []
    for run in published_runs():
        best = search_layouts(run.config(), run.gpus, run.gpu, run.seq_len, run.global_batch * run.seq_len).mfu
        found.append(RealizedShare(id=run.id, split=run.split, published_mfu=run.published_mfu,
                                   best_layout_mfu=best, share=run.published_mfu / best))
    return found
