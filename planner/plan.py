"""Size a run: a budget in any form -> the compute-optimal run under each chosen law, with its cost,
its memory per GPU, the fewest GPUs it fits on, and a suggested shape.

This module only composes the others (laws, budget, hardware, architecture, memory); it holds no formula.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from planner.core import architecture, budget, format as fmt, hardware, laws
from planner.core.memory import (InferenceMemory, TrainingMemory, inference_memory,
                                 min_gpus_for_training, training_memory)
from planner.errors import PlannerError
from planner.systems.auto import layout_cost
from planner.systems.goodput import DEFAULT_GOODPUT
from planner.systems.layout import ParallelPlan, search_layouts


class PlanRequest(BaseModel):
    """What the Plan page and `python -m planner plan` ask for."""

    budget: budget.BudgetRequest
    laws: list[str] = Field(default_factory=lambda: [laws.DEFAULT_LAW], min_length=1)
    seq_len: int = Field(default=2048, gt=0, description="training sequence length")
    micro_batch: int = Field(default=1, gt=0, description="sequences per GPU per step")
    sharding: str = Field(default="zero3", description="none | zero1 | zero2 | zero3 | fsdp")
    recompute: str = Field(default="full", description="activation recomputation: none | selective | full")
    family: str = Field(default="llama", description="architecture family of the suggested shape")
    mfu_auto: bool = Field(default=False, description="use the expected MFU of the best parallel layout (its "
                                                      "predicted MFU x the share published runs reached, times "
                                                      "`goodput`) instead of budget.mfu")
    goodput: float = Field(default=DEFAULT_GOODPUT, gt=0, le=1, description="productive share of wall-clock, "
                                                                          "applied with mfu_auto")
    global_batch_tokens: int | None = Field(default=None, gt=0, description="tokens per step for the layout search "
                                                                            "(default 4M)")
    accelerator_overrides: dict[str, float] = Field(default_factory=dict, description="edited accelerator fields for "
                                                    "the layout search (bandwidths, matmul efficiency, node size)")


class LawPlan(BaseModel):
    """The compute-optimal run under one law."""

    law: str
    citation: str
    allocation: laws.Allocation
    cost: budget.Cost
    shape: architecture.ModelConfig | None = Field(description="suggested shape (None: beyond the shapes searched)")
    shape_note: str = ""
    shape_params: int | None = Field(default=None, description="total parameters of the suggested shape")
    memory: TrainingMemory | None = Field(default=None,
                                          description="training memory per GPU on the budget's GPU count")
    min_gpus: int | None = Field(default=None, description="fewest GPUs the training state fits on "
                                                           "(None: more than 4096, or no shape)")
    inference: InferenceMemory | None = Field(default=None, description="bf16 serving memory at the training length")
    layout: ParallelPlan | None = Field(default=None, description="fastest parallel layout that fits the budget's GPUs")
    layout_note: str = ""


class Plan(BaseModel):
    """The budget in every unit and each law's run. With mfu_auto the budget is stated at the MFU of the first
    law's run; each law's own FLOPs are in its allocation."""

    budget: budget.Budget
    plans: list[LawPlan]


def plan_for_law(name: str, resolved: budget.Budget, request: PlanRequest) -> LawPlan:
    law = laws.get_law(name)
    allocation = law.optimal(resolved.flops)
    result = LawPlan(law=name, citation=law.citation, allocation=allocation, shape=None,
                     cost=budget.training_cost(allocation.params, allocation.tokens, resolved.accelerator,
                                               resolved.gpus, resolved.mfu))
    try:
        shape = architecture.suggest_shape_any_vocab(allocation.params, request.family, request.seq_len)
    except PlannerError as err:  # e.g. beyond the largest shape searched: the rest of the plan still holds
        return result.model_copy(update={"shape_note": f"no suggested shape: {err}"})
    knobs = dict(seq_len=request.seq_len, micro_batch=request.micro_batch, sharding=request.sharding,
                 recompute=request.recompute)
    gpu_memory_gb = hardware.get_accelerator(resolved.accelerator).memory_gb
    layout, note, cost = None, "", result.cost
    try:
        acc = hardware.with_overrides(resolved.accelerator, request.accelerator_overrides)
        layout = search_layouts(shape, resolved.gpus, acc, request.seq_len, request.global_batch_tokens)
    except PlannerError as err:  # does not fit in any layout: the memory warning says what to change
        note = str(err)
        if request.mfu_auto:  # nothing to predict an MFU for: say what the cost rests on instead
            note += f"; no MFU could be predicted, so time and cost use MFU {resolved.mfu:g} and no goodput"
    if layout is not None and request.mfu_auto:
        cost = layout_cost(allocation.params, allocation.tokens, resolved.accelerator, resolved.gpus, layout,
                           request.goodput)
    return result.model_copy(update=dict(
        shape=shape, shape_params=architecture.param_counts(shape).total, cost=cost, layout=layout,
        layout_note=note, memory=training_memory(shape, gpus=resolved.gpus, **knobs),
        min_gpus=min_gpus_for_training(shape, gpu_memory_gb, **knobs),
        inference=inference_memory(shape, seq_len=request.seq_len)))


# With a predicted MFU, a law's plan is sized and priced at the same MFU to within this share (two or three steps:
# the MFU changes slowly with model size).
AUTO_MFU_TOLERANCE = 0.005
AUTO_MFU_STEPS = 5


def _plan_at_its_own_mfu(name: str, request: PlanRequest, mfu: float) -> tuple[LawPlan, budget.Budget]:
    """With mfu_auto: a budget in hours, days or dollars buys FLOPs at an MFU that depends on the model those FLOPs
    buy under this law. Iterate from `mfu` until the model is priced at the MFU that sized it, so that every law's
    run fits the stated budget (a FLOPs budget settles at once: its FLOPs do not move)."""
    tried, law_plan = [], None
    for _ in range(AUTO_MFU_STEPS):
        resolved = budget.resolve_budget(request.budget.model_copy(update={"mfu": mfu}))
        if law_plan is not None and math.isclose(resolved.flops, law_plan.allocation.flops, rel_tol=1e-9):
            return law_plan, resolved  # a FLOPs budget: the same FLOPs buy the same run, now stated at its MFU
        law_plan = plan_for_law(name, resolved, request)
        if law_plan.layout is None:  # no layout, no predicted MFU: priced at the MFU given
            return law_plan, resolved
        reached = law_plan.cost.mfu * request.goodput
        if abs(reached - mfu) <= AUTO_MFU_TOLERANCE * mfu:
            return law_plan, resolved
        tried.append((reached / mfu - 1, law_plan, resolved))
        mfu = reached
    # Suggested shapes are discrete, so the MFU can swing between two models: take the closest one that runs
    # within the budget (reached >= sized), else the closest.
    within = [t for t in tried if t[0] >= 0]
    _, law_plan, resolved = min(within or tried, key=lambda t: abs(t[0]))
    return law_plan, resolved


def make_plan(request: PlanRequest) -> Plan:
    if not request.mfu_auto:
        resolved = budget.resolve_budget(request.budget)
        return Plan(budget=resolved, plans=[plan_for_law(name, resolved, request) for name in request.laws])
    plans, first, mfu = [], None, request.budget.mfu
    for name in request.laws:  # each law from the MFU the previous one settled at: usually close
        law_plan, resolved = _plan_at_its_own_mfu(name, request, mfu)
        plans.append(law_plan)
        first, mfu = first or resolved, resolved.mfu
    return Plan(budget=first, plans=plans)


def plan_table(plan: Plan) -> pd.DataFrame:
    """One row per law: the numbers a team lead compares, ready for a table or a CSV download. Memory columns are
    1e9-byte GB, the card's capacity included (an "80 GB" H100 holds 85.9 of them)."""
    gpu_memory_gb = hardware.get_accelerator(plan.budget.accelerator).memory_bytes / 1e9
    rows = []
    for p in plan.plans:
        m, shape = p.memory, p.shape
        rows.append({
            "law": p.law, "params": p.allocation.params, "tokens": p.allocation.tokens,
            "tokens_per_param": p.allocation.tokens_per_param, "loss": p.allocation.loss,
            "flops": p.allocation.flops, "mfu": p.cost.mfu, "gpu_hours": p.cost.gpu_hours, "days": p.cost.days,
            "usd": p.cost.usd, "memory_per_gpu_gb": m.total_gb if m else None, "min_gpus": p.min_gpus,
            "layers": shape.n_layers if shape else None, "d_model": shape.d_model if shape else None,
            "heads": shape.n_heads if shape else None, "shape_params": p.shape_params,
            "weights_gb": m.weights_gb if m else None, "grads_gb": m.grads_gb if m else None,
            "optimizer_gb": m.optimizer_gb if m else None, "activations_gb": m.activations_gb if m else None,
            "gpu_memory_gb": gpu_memory_gb,
        })
    return pd.DataFrame(rows)


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
                     "tokens/param": fmt.ratio(opt.tokens_per_param), "FLOPs": f"{opt.flops:.3g}",
                     "loss": round(opt.loss, 3), "wall-clock": fmt.days(cost.days), "cost (USD)": fmt.usd(cost.usd)})
    return pd.DataFrame(rows)


# --- curves for the charts ---------------------------------------------------------------------------

def budgets_around(flops: float, decades: int = 2) -> list[float]:
    """Budgets one and two decades either side of the user's, for IsoFLOP and frontier charts."""
    laws.check_flops(flops)
    return [flops * 10.0**k for k in range(-decades, decades + 1) if flops * 10.0**k <= laws.MAX_FLOPS]


def isoflop_curves(law_name: str, budgets: list[float], points: int = 60, span: float = 30.0) -> pd.DataFrame:
    """Loss vs model size along each IsoFLOP budget (sizes from optimum/span to optimum*span)."""
    law = laws.get_law(law_name)
    frames = []
    for opt in law.optima(budgets):  # two decades below a small budget may be too small for any model
        flops = opt.flops
        sizes = np.geomspace(opt.params / span, opt.params * span, points)
        losses = law.isoflop_loss(flops, sizes)
        lowest = int(np.argmin(losses))
        frames.append(pd.DataFrame({
            "law": law_name, "flops": flops, "params": sizes,
            "tokens": flops / (laws.FLOPS_PER_PARAM_TOKEN * sizes), "loss": losses,
            "optimal_params": opt.params, "optimal_loss": opt.loss,
            # Kaplan's allocation rule (N ∝ C^0.73) is not the minimum of its own L(N, D) along an IsoFLOP
            # curve; the chart marks both so the difference is visible rather than looking like a bug.
            "curve_min_params": sizes[lowest], "curve_min_loss": losses[lowest],
        }))
    if not frames:
        raise PlannerError(f"no IsoFLOP curve: every budget around {max(budgets):.3g} FLOPs is too small for a model "
                           f"under {law_name}")
    return pd.concat(frames, ignore_index=True)


def isoflop_panels(law_names: list[str], flops: float) -> pd.DataFrame:
    """The IsoFLOP curves of several laws around one budget, one table (a panel per law in the figure)."""
    budgets = budgets_around(flops)
    return pd.concat([isoflop_curves(name, budgets) for name in law_names], ignore_index=True)


def frontier_range(flops: float, decades: float = 3.0) -> tuple[float, float]:
    """The compute range of the frontier chart: `decades` either side of the budget."""
    laws.check_flops(flops)
    return flops / 10.0**decades, min(flops * 10.0**decades, laws.MAX_FLOPS)


def frontier(law_names: list[str], flops_min: float, flops_max: float, points: int = 40) -> pd.DataFrame:
    """N*, D* and loss along compute for each law, for the side-by-side frontier chart."""
    if not flops_min < flops_max:
        raise PlannerError("the frontier needs flops_min < flops_max")
    rows = []
    for name in law_names:
        law = laws.get_law(name)
        for opt in law.optima(np.geomspace(flops_min, flops_max, points)):
            rows.append({"law": name, "flops": opt.flops, "params": opt.params, "tokens": opt.tokens,
                         "tokens_per_param": opt.tokens_per_param, "loss": opt.loss})
    return pd.DataFrame(rows)
