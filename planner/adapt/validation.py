"""How far the adaptation memory estimate is from measured peaks: every run in
data/adapt_memory_measurements.csv (each row cites its source), estimated with the run's own knobs.

Two splits: "calibration" (peft's Llama-3.2-3B method comparison, which the loss-buffer constant was chosen on)
and "held-out" (public measurements never used to choose anything). The Adapt page shows each method's
expected error from the held-out runs where there are any, else from the calibration runs (and says which)."""
from __future__ import annotations

import csv
import statistics
from functools import lru_cache

from pydantic import BaseModel, Field

from planner.adapt.estimate import AdaptRequest, estimate
from planner.core.architecture import ModelConfig
from planner.core.settings import DATA_TABLES

MEASUREMENTS_CSV = DATA_TABLES / "adapt_memory_measurements.csv"


class MemoryCheck(BaseModel):
    id: str
    split: str = Field(description="calibration or held-out")
    model: str
    method: str
    micro_batch: int
    seq_len: int
    gradient_checkpointing: bool
    measured_gb: float
    estimated_gb: float
    error: float = Field(description="estimated / measured - 1")
    source: str


class SplitSummary(BaseModel):
    runs: int
    mean_abs_error: float
    max_abs_error: float


class MemoryValidation(BaseModel):
    checks: list[MemoryCheck]
    calibration: SplitSummary
    held_out: SplitSummary


# Measured models that are not presets. google-bert/bert-large-uncased config.json: 24 layers, width 1024,
# 16 heads, MLP 4096, vocab 30522, 512 positions; GELU MLP, LayerNorm, biases and dropout as GPT-2's blocks (the
# memory model's "gpt2" family). Its pooler (1M parameters) and token-type embeddings are left out (0.3%).
MODELS = {"bert-large-uncased": ModelConfig(name="bert-large-uncased", family="gpt2", vocab_size=30522,
                                            d_model=1024, n_layers=24, n_heads=16, d_ff=4096, max_seq_len=512)}


def _request(row: dict) -> AdaptRequest:
    knobs = dict(method=row["method"], micro_batch=int(row["micro_batch"]), seq_len=int(row["seq_len"]),
                 precision=row["precision"], attention=row["attention"], head=row.get("head") or "lm",
                 gradient_checkpointing=row["gradient_checkpointing"] == "true")
    if row["rank"]:
        knobs["rank"] = int(row["rank"])
    if row["target_modules"]:
        knobs["target_modules"] = row["target_modules"].split()
    if row["virtual_tokens"]:
        knobs["virtual_tokens"] = int(row["virtual_tokens"])
    return AdaptRequest(**knobs)


def _summary(checks: list[MemoryCheck]) -> SplitSummary:
    errors = [abs(c.error) for c in checks] or [0.0]
    return SplitSummary(runs=len(checks), mean_abs_error=statistics.mean(errors), max_abs_error=max(errors))


@lru_cache(maxsize=1)
def validate_memory() -> MemoryValidation:
    """Estimate every measured run with its knobs (a few milliseconds each; cached: the table is fixed)."""
    checks = []
    with MEASUREMENTS_CSV.open(newline="") as f:
        for row in csv.DictReader(f):
            req, measured = _request(row), float(row["measured_gb"])
            est = estimate(MODELS.get(row["model"], row["model"]), req).memory_gb
            checks.append(MemoryCheck(id=row["id"], split=row["split"], model=row["model"], method=req.method,
                                      micro_batch=req.micro_batch, seq_len=req.seq_len,
                                      gradient_checkpointing=req.gradient_checkpointing, measured_gb=measured,
                                      estimated_gb=est, error=est / measured - 1, source=row["source"]))
    return MemoryValidation(checks=checks, calibration=_summary([c for c in checks if c.split == "calibration"]),
                            held_out=_summary([c for c in checks if c.split == "held-out"]))


class ExpectedError(BaseModel):
    """What the validation says about one method's memory estimate."""

    method: str
    max_abs_error: float | None = Field(description="worst |error| of this method's runs (None: no runs)")
    runs: int
    split: str = Field(description="held-out, calibration, or none")


def expected_error(method: str) -> ExpectedError:
    """This method's worst memory error on held-out runs, else on calibration runs."""
    checks = validate_memory().checks
    for split in ("held-out", "calibration"):
        mine = [abs(c.error) for c in checks if c.method == method and c.split == split]
        if mine:
            return ExpectedError(method=method, max_abs_error=max(mine), runs=len(mine), split=split)
    return ExpectedError(method=method, max_abs_error=None, runs=0, split="none")
