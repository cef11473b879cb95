"""The over-training trade-off: Gadre et al. 2024, 'Language models scale reliably with over-training and on
downstream tasks' (arXiv 2403.08540), §2.

Gadre et al. write the loss at a token multiplier M = D/N as L(C, M) = E + (a M^eta + b M^-eta) C^-eta (their
§2, the Chinchilla form with alpha = beta = eta, C = 6ND) and show that runs far past the compute-optimal
M ~ 20 (up to M = 640 in their Fig. 1) follow it. Here the same question is asked of the planner's own L(N, D):
at a budget C, what does training at M tokens per parameter cost in loss, how much more compute reaches the
compute-optimal loss at that M, and how much smaller (cheaper to serve) is the model that does.
"""
from __future__ import annotations

import math

from pydantic import BaseModel, Field

from planner.core import laws
from planner.core.laws import FLOPS_PER_PARAM_TOKEN
from planner.errors import PlannerError
from planner.recipe._solve import bisect_log, compute_for_optimal_loss, loss as point_loss, parametric

GADRE = "Gadre et al. 2024, 'Language models scale reliably with over-training' (arXiv 2403.08540), §2"
RATIOS = (20, 50, 100, 200, 500, 1000, 2000)  # tokens per parameter, Chinchilla's 20 to Llama-3-8B-like 2,000


class OvertrainRow(BaseModel):
    """Training at `ratio` tokens per parameter with the same budget as the compute-optimal run."""

    ratio: float = Field(description="tokens per parameter")
    params: float
    tokens: float
    loss: float
    loss_penalty: float = Field(description="loss minus the compute-optimal loss at this budget")
    loss_penalty_pct: float
    flops_same_loss: float = Field(description="compute at this ratio that reaches the compute-optimal loss")
    extra_compute: float = Field(description="flops_same_loss / budget - 1")
    params_same_loss: float = Field(description="size of that model")
    inference_saving: float = Field(description="1 - its size / the compute-optimal size: serving FLOPs saved")


class OvertrainTable(BaseModel):
    law: str
    flops: float
    optimal: laws.Allocation
    rows: list[OvertrainRow]
    citation: str = GADRE


class OvertrainPoint(BaseModel):
    """A fixed run (say 8B on 15T) against the compute-optimal run of the same budget and of the same loss."""

    law: str
    params: float
    tokens: float
    flops: float
    tokens_per_param: float
    loss: float
    optimal: laws.Allocation = Field(description="the compute-optimal run of the same budget")
    loss_penalty: float
    loss_penalty_pct: float
    optimal_same_loss: laws.Allocation = Field(description="the compute-optimal run that reaches the same loss")
    extra_compute: float = Field(description="flops / that run's flops - 1: what over-training costs")
    inference_saving: float = Field(description="1 - params / that run's params: what it saves per served token")
    citation: str = GADRE


def _at_ratio(law, flops: float, ratio: float) -> tuple[float, float]:
    params = math.sqrt(flops / (FLOPS_PER_PARAM_TOKEN * ratio))
    return params, ratio * params


def _row(law, flops: float, optimum: laws.Allocation, ratio: float) -> OvertrainRow:
    params, tokens = _at_ratio(law, flops, ratio)
    loss = float(law.loss(params, tokens))
    # Loss at a fixed ratio falls monotonically with compute: bisect for the budget that reaches the optimum's.
    same = bisect_log(lambda c: point_loss(law, *_at_ratio(law, c, ratio)) - optimum.loss, flops * 1e-3, flops * 1e6)
    n_same = _at_ratio(law, same, ratio)[0]
    return OvertrainRow(ratio=ratio, params=params, tokens=tokens, loss=loss, loss_penalty=loss - optimum.loss,
                        loss_penalty_pct=100 * (loss / optimum.loss - 1), flops_same_loss=same,
                        extra_compute=same / flops - 1, params_same_loss=n_same,
                        inference_saving=1 - n_same / optimum.params)


def overtrain_table(law_name: str, flops: float, ratios=RATIOS) -> OvertrainTable:
    """Loss penalty, extra compute for equal loss and serving saving at each tokens-per-parameter ratio."""
    law = parametric(laws.get_law(law_name))
    optimum = law.optimal(flops)  # checks the budget
    if not ratios or any(not (r > 0 and math.isfinite(r)) for r in ratios):
        raise PlannerError(f"tokens-per-parameter ratios must be positive numbers (got {list(ratios)!r})")
    return OvertrainTable(law=law_name, flops=flops, optimal=optimum,
                          rows=[_row(law, flops, optimum, float(r)) for r in ratios])


def overtrain_point(law_name: str, params: float, tokens: float) -> OvertrainPoint:
    """What a fixed (N, D) loses against the compute-optimal run, and what it saves at serving time."""
    law = parametric(laws.get_law(law_name))
    loss = float(law.loss(params, tokens))
    flops = FLOPS_PER_PARAM_TOKEN * params * tokens
    optimum = law.optimal(flops)
    same = law.optimal(compute_for_optimal_loss(law, loss))
    return OvertrainPoint(law=law_name, params=params, tokens=tokens, flops=flops,
                          tokens_per_param=tokens / params, loss=loss, optimal=optimum,
                          loss_penalty=loss - optimum.loss, loss_penalty_pct=100 * (loss / optimum.loss - 1),
                          optimal_same_loss=same, extra_compute=flops / same.flops - 1,
                          inference_saving=1 - params / same.params)
