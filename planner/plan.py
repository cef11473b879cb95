"""Size a run: a budget in any form -> the compute-optimal run under each chosen law, with its cost,
its memory per GPU, the fewest GPUs it fits on, and a suggested shape.

This module only composes the others (laws, budget, hardware, architecture, memory); it holds no formula.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from planner import architecture, budget, format as fmt, hardware, laws
from planner.memory import (InferenceMemory, TrainingMemory, inference_memory, min_gpus_for_training,
                            training_memory)
from planner.errors import PlannerError


class PlanRequest(BaseModel):
    """What the Plan page and `python -m planner plan` ask for."""

    budget: budget.BudgetRequest
    laws: list[str] = Field(default_factory=lambda: [laws.DEFAULT_LAW], min_length=1)
    seq_len: int = Field(default=2048, gt=0, description="training sequence length")
    micro_batch: int = Field(default=1, gt=0, description="sequences per GPU per step")
    sharding: str = Field(default="zero3", description="none | zero1 | zero2 | zero3 | fsdp")
    recompute: str = Field(default="full", description="activation recomputation: none | selective | full")
    family: str = Field(default="llama", description="architecture family of the suggested shape")


class LawPlan(BaseModel):
    """The compute-optimal run under one law."""

    law: str
    citation: str
    allocation: laws.Allocation
    cost: budget.Cost
    shape: architecture.ModelConfig
    shape_params: int = Field(description="total parameters of the suggested shape")
    memory: TrainingMemory = Field(description="training memory per GPU on the budget's GPU count")
    min_gpus: int | None = Field(description="fewest GPUs the training state fits on (None: more than 4096)")
    inference: InferenceMemory = Field(description="bf16 serving memory at the training length")


class Plan(BaseModel):
    budget: budget.Budget
    plans: list[LawPlan]


SHAPE_VOCABULARIES = (32000, 4096, 256)  # Llama's, a small BPE's, bytes: small models cannot carry a 32k table


def suggest_shape(params: float, request: PlanRequest) -> architecture.ModelConfig:
    """The suggested shape, with the largest of the usual vocabularies that a model of this size can hold."""
    for vocab_size in SHAPE_VOCABULARIES:
        try:
            return architecture.suggest_shape(params, family=request.family, vocab_size=vocab_size,
                                              seq_len=request.seq_len)
        except PlannerError:
            if vocab_size == SHAPE_VOCABULARIES[-1]:
                raise


def plan_for_law(name: str, resolved: budget.Budget, request: PlanRequest) -> LawPlan:
    law = laws.get_law(name)
    allocation = law.optimal(resolved.flops)
    accelerator = hardware.get_accelerator(resolved.accelerator)
    shape = suggest_shape(allocation.params, request)
    knobs = dict(seq_len=request.seq_len, micro_batch=request.micro_batch, sharding=request.sharding,
                 recompute=request.recompute)
    return LawPlan(
        law=name, citation=law.citation, allocation=allocation,
        cost=budget.training_cost(allocation.params, allocation.tokens, resolved.accelerator,
                                  resolved.gpus, resolved.mfu),
        shape=shape, shape_params=architecture.param_counts(shape).total,
        memory=training_memory(shape, gpus=resolved.gpus, **knobs),
        min_gpus=min_gpus_for_training(shape, accelerator.memory_gb, **knobs),
        inference=inference_memory(shape, seq_len=request.seq_len),
    )


def make_plan(request: PlanRequest) -> Plan:
    resolved = budget.resolve_budget(request.budget)
    return Plan(budget=resolved, plans=[plan_for_law(name, resolved, request) for name in request.laws])


def plan_table(plan: Plan) -> pd.DataFrame:
    """One row per law: the numbers a team lead compares, ready for a table or a CSV download."""
    gpu_memory_gb = hardware.get_accelerator(plan.budget.accelerator).memory_gb
    rows = []
    for p in plan.plans:
        rows.append({
            "law": p.law, "params": p.allocation.params, "tokens": p.allocation.tokens,
            "tokens_per_param": p.allocation.tokens_per_param, "loss": p.allocation.loss,
            "flops": p.allocation.flops, "gpu_hours": p.cost.gpu_hours, "days": p.cost.days,
            "usd": p.cost.usd, "memory_per_gpu_gb": p.memory.total_gb, "min_gpus": p.min_gpus,
            "layers": p.shape.n_layers, "d_model": p.shape.d_model, "heads": p.shape.n_heads,
            "shape_params": p.shape_params, "weights_gb": p.memory.weights_gb, "grads_gb": p.memory.grads_gb,
            "optimizer_gb": p.memory.optimizer_gb, "activations_gb": p.memory.activations_gb,
            "gpu_memory_gb": gpu_memory_gb,
        })
    return pd.DataFrame(rows)


def budget_summary(b: budget.Budget) -> str:
    """One line that states the budget in every unit (markdown)."""
    assumed = " — GPU count assumed" if b.gpus_assumed else ""
    return (f"**Budget:** {fmt.flops(b.flops)} = {fmt.hours(b.gpu_hours)} = {fmt.days(b.days)} on {b.gpus:,} × "
            f"{b.accelerator} at {b.mfu:.0%} MFU = {fmt.usd(b.usd)} (${b.usd_per_gpu_hour:.2f}/GPU-h, price of "
            f"{b.price_date}){assumed}")


def shape_summary(p: LawPlan) -> str:
    """The suggested architecture in one markdown line, with the law it came from."""
    s = p.shape
    return (f"**Suggested architecture** ({s.family}): {s.n_layers} layers, width {s.d_model}, {s.n_heads} heads "
            f"({s.kv_heads} KV), MLP {s.d_ff}, vocab {s.vocab_size:,} → {fmt.count(p.shape_params)} parameters. "
            f"*{p.citation}*")


DISPLAY_COLUMNS = {
    "law": "law", "params": "N*", "tokens": "D*", "tokens_per_param": "tokens/param", "loss": "loss",
    "gpu_hours": "GPU-hours", "days": "days", "usd": "cost (USD)", "memory_per_gpu_gb": "GB/GPU",
    "min_gpus": "min GPUs", "layers": "layers", "d_model": "width", "heads": "heads",
}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table as people read it: counts as 7.0B / 1.4T, money and hours rounded."""
    shown = table[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)
    for column in ("N*", "D*", "GPU-hours"):
        shown[column] = shown[column].map(fmt.count)
    shown["cost (USD)"] = shown["cost (USD)"].map(fmt.usd)
    return shown.round({"tokens/param": 1, "loss": 3, "days": 1, "GB/GPU": 1})


def fixed_allocations(law_names: list[str], resolved: budget.Budget, params: float | None = None,
                      tokens: float | None = None) -> pd.DataFrame:
    """Each law's compute-optimal run when the model size (or the token count) is already decided,
    priced on the budget's accelerator, GPUs and MFU."""
    if (params is None) == (tokens is None):
        raise PlannerError("fix either the model size or the token count, not both")
    rows = []
    for name in law_names:
        law = laws.get_law(name)
        opt = law.optimal_for_params(params) if params is not None else law.optimal_for_tokens(tokens)
        cost = budget.training_cost(opt.params, opt.tokens, resolved.accelerator, resolved.gpus, resolved.mfu)
        rows.append({"law": name, "N": fmt.count(opt.params), "D": fmt.count(opt.tokens),
                     "tokens/param": round(opt.tokens_per_param, 1), "FLOPs": f"{opt.flops:.3g}",
                     "loss": round(opt.loss, 3), "days": round(cost.days, 1), "cost (USD)": fmt.usd(cost.usd)})
    return pd.DataFrame(rows)


# --- curves for the charts ---------------------------------------------------------------------------

def budgets_around(flops: float, decades: int = 2) -> list[float]:
    """Budgets one and two decades either side of the user's, for IsoFLOP and frontier charts."""
    laws.check_flops(flops)
    return [flops * 10.0**k for k in range(-decades, decades + 1)]


def isoflop_curves(law_name: str, budgets: list[float], points: int = 60, span: float = 30.0) -> pd.DataFrame:
    """Loss vs model size along each IsoFLOP budget (sizes from optimum/span to optimum*span)."""
    law = laws.get_law(law_name)
    frames = []
    for flops in budgets:
        opt = law.optimal(flops)
        sizes = np.geomspace(opt.params / span, opt.params * span, points)
        frames.append(pd.DataFrame({
            "law": law_name, "flops": flops, "params": sizes,
            "tokens": flops / (laws.FLOPS_PER_PARAM_TOKEN * sizes),
            "loss": law.isoflop_loss(flops, sizes), "optimal_params": opt.params, "optimal_loss": opt.loss,
        }))
    return pd.concat(frames, ignore_index=True)


def frontier_range(flops: float, decades: float = 3.0) -> tuple[float, float]:
    """The compute range of the frontier chart: `decades` either side of the budget."""
    laws.check_flops(flops)
    return flops / 10.0**decades, flops * 10.0**decades


def frontier(law_names: list[str], flops_min: float, flops_max: float, points: int = 40) -> pd.DataFrame:
    """N*, D* and loss along compute for each law, for the side-by-side frontier chart."""
    if not flops_min < flops_max:
        raise PlannerError("the frontier needs flops_min < flops_max")
    rows = []
    for name in law_names:
        law = laws.get_law(name)
        for flops in np.geomspace(flops_min, flops_max, points):
            opt = law.optimal(float(flops))
            rows.append({"law": name, "flops": opt.flops, "params": opt.params, "tokens": opt.tokens,
                         "tokens_per_param": opt.tokens_per_param, "loss": opt.loss})
    return pd.DataFrame(rows)
