"""Inference-aware sizing: Sardana et al. 2024, 'Beyond Chinchilla-Optimal: Accounting for Inference in
Language Model Scaling Laws' (ICML 2024, arXiv 2401.00448), §2-3.

A model that will serve T tokens in its lifetime costs 6ND to train plus 2N per served token (their §2:
inference FLOPs 2 N D_inf). Holding the loss of the training-only (Chinchilla) optimum at the budget C fixed,
the cheapest model for training + inference is smaller and trained on more tokens. Prompt (prefill) and
generated tokens run at very different utilisation on real hardware (prefill is compute-bound, decoding is
memory-bound), so each has its own MFU (Sardana et al. §3); the search minimises accelerator time
(FLOPs / MFU), which is the FLOP total itself when all three MFUs are equal.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator

from planner.core import budget, hardware, laws
from planner.core.laws import FLOPS_PER_PARAM_TOKEN
from planner.errors import PlannerError
from planner.recipe._solve import golden_min_log, parametric, smallest_params_for_loss, tokens_for_loss

SARDANA = "Sardana et al. 2024, 'Beyond Chinchilla-Optimal' (arXiv 2401.00448), §2"
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0  # a forward pass: one multiply-add per parameter per token


MAX_INFERENCE_TOKENS = 1e20


class InferenceDemand(BaseModel):
    """Lifetime serving demand and the utilisation each kind of token runs at."""

    # Bounded: past 1e20 served tokens (thousands of years of the largest deployments' traffic) the optimum leaves
    # every law's range, and at 1e300 the cost curve overflowed into NaN savings on the Plan page.
    tokens: float = Field(description="lifetime inference tokens (prompt + generated), 0 to 1e20")
    prefill_share: float = Field(default=0.5, ge=0, le=1, description="share of them that are prompt tokens")
    mfu_train: float = Field(default=budget.DEFAULT_MFU, gt=0, le=1)
    mfu_prefill: float | None = Field(default=None, gt=0, le=1, description="None: as in training")
    mfu_generate: float | None = Field(default=None, gt=0, le=1, description="None: as in training")

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, value: float) -> float:
        if not 0 <= value <= MAX_INFERENCE_TOKENS:  # NaN fails too
            raise PlannerError(f"lifetime inference tokens must be between 0 and {MAX_INFERENCE_TOKENS:.0e} "
                               f"(got {value:.3g})")
        return value

    def weight(self) -> float:
        """Accelerator time per inference FLOP, relative to a training FLOP."""
        prefill = self.mfu_prefill or self.mfu_train
        generate = self.mfu_generate or self.mfu_train
        return self.mfu_train * (self.prefill_share / prefill + (1 - self.prefill_share) / generate)


class SizedRun(BaseModel):
    params: float
    tokens: float
    tokens_per_param: float
    loss: float
    training_flops: float
    inference_flops: float
    total_flops: float
    usd: float | None = Field(default=None, description="training + inference on the accelerator given")


class InferenceAwarePlan(SizedRun):
    """The run with the least training + inference cost at the loss of the training-only optimum."""

    law: str
    flops: float = Field(description="the training budget whose optimum sets the target loss")
    target_loss: float
    inference_tokens: float
    prefill_tokens: float
    generated_tokens: float
    accelerator: str | None = None
    chinchilla: SizedRun = Field(description="the training-only optimum at the budget, serving the same demand")
    total_saving: float = Field(description="1 - total / the training-only optimum's total (cost-weighted)")
    citation: str = SARDANA
    note: str = ""


def _cost(params, tokens, demand: InferenceDemand):
    """Accelerator time in training-FLOP units: training + weighted inference."""
    return (FLOPS_PER_PARAM_TOKEN * params * tokens
            + INFERENCE_FLOPS_PER_PARAM_TOKEN * params * demand.tokens * demand.weight())


def _usd(training_flops: float, inference_flops: float, demand: InferenceDemand, accelerator: str | None):
    if accelerator is None:
        return None
    usd_per_flop = budget.gpu_hours_to_usd(budget.flops_to_gpu_hours(1.0, accelerator, demand.mfu_train),
                                           accelerator)
    return usd_per_flop * (training_flops + inference_flops * demand.weight())


def _sized(law, params: float, tokens: float, demand: InferenceDemand, accelerator: str | None) -> SizedRun:
    train = FLOPS_PER_PARAM_TOKEN * params * tokens
    infer = INFERENCE_FLOPS_PER_PARAM_TOKEN * params * demand.tokens
    return SizedRun(params=params, tokens=tokens, tokens_per_param=tokens / params,
                    loss=float(law.loss(params, tokens)), training_flops=train, inference_flops=infer,
                    total_flops=train + infer, usd=_usd(train, infer, demand, accelerator))


def inference_aware(law_name: str, flops: float, demand: InferenceDemand,
                    accelerator: str | None = None) -> InferenceAwarePlan:
    """Sardana et al.'s optimum at the loss of the training-only optimum of `flops`."""
    law = parametric(laws.get_law(law_name))
    base = law.optimal(flops)  # checks the budget
    if accelerator is not None:
        accelerator = hardware.get_accelerator(accelerator).name
    n_min = smallest_params_for_loss(law, base.loss)
    # With demand the optimum is never larger than the training-only one (a larger model costs more to serve
    # and, past the optimum, more to train), so search (n_min, N*]; the cost is unimodal there in log N.
    n = golden_min_log(lambda p: _cost(p, tokens_for_loss(law, p, base.loss), demand), n_min * (1 + 1e-9),
                       base.params)
    if _cost(base.params, base.tokens, demand) <= _cost(n, tokens_for_loss(law, n, base.loss), demand):
        n = base.params  # no demand (or a flat optimum): the training-only optimum itself
    d = base.tokens if n == base.params else tokens_for_loss(law, n, base.loss)
    best = _sized(law, n, d, demand, accelerator)
    chin = _sized(law, base.params, base.tokens, demand, accelerator)
    weighted = _cost(n, d, demand) / _cost(base.params, base.tokens, demand)
    return InferenceAwarePlan(
        **best.model_dump(), law=law_name, flops=float(flops), target_loss=base.loss,
        inference_tokens=demand.tokens, prefill_tokens=demand.tokens * demand.prefill_share,
        generated_tokens=demand.tokens * (1 - demand.prefill_share), accelerator=accelerator,
        chinchilla=chin, total_saving=1 - weighted,
        note="same loss as the training-only optimum; inference at 2N FLOPs per token"
             + ("" if demand.weight() == 1 else f", weighted x{demand.weight():.3g} for its lower MFU"))


def sizing_law(names: list[str]) -> str:
    """The first of `names` with a loss surface (the trade-offs need one), else the default law."""
    for name in names:
        try:
            parametric(laws.get_law(name))
            return name
        except PlannerError:
            continue
    return laws.DEFAULT_LAW


def cost_curve(law_name: str, flops: float, demand: InferenceDemand, points: int = 60) -> pd.DataFrame:
    """Training, inference and total FLOPs of every model size that reaches the training-only optimum's loss
    (the curve behind the Plan page's chart), from near the smallest such size (or 1/30 of the optimum) to 3x
    the optimum. Inference is weighted by its MFU as in the search (plain FLOPs when the MFUs are equal)."""
    law = parametric(laws.get_law(law_name))
    base = law.optimal(flops)  # checks the budget
    n_min = smallest_params_for_loss(law, base.loss)
    sizes = np.geomspace(max(n_min * 1.1, base.params / 30), base.params * 3, points)
    tokens = np.array([tokens_for_loss(law, p, base.loss) for p in sizes])
    if not np.all(np.isfinite(tokens)):
        raise PlannerError("the iso-loss curve left the law's range; try another budget")
    train = FLOPS_PER_PARAM_TOKEN * sizes * tokens
    infer = INFERENCE_FLOPS_PER_PARAM_TOKEN * sizes * demand.tokens * demand.weight()
    return pd.DataFrame({"params": sizes, "tokens": tokens, "training_flops": train,
                         "inference_flops": infer, "total_flops": train + infer})
