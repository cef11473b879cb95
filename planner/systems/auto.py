"""`--mfu auto`: the MFU to plan with for a model on a cluster, for cost and plan.

The layout search predicts the best layout's MFU on a well-tuned stack; published runs reached a median 0.86 of
it at their own scale (planner.systems.published.REALIZED_SHARE). Auto plans with that share of it, at the
default goodput, and gives the hours at the 10th-90th percentile of the share as the range to expect.
"""
from __future__ import annotations

from planner.core.architecture import ModelConfig, get_preset, param_counts, suggest_shape
from planner.core.budget import Cost, check_mfu, training_cost
from planner.errors import PlannerError
from planner.systems.goodput import DEFAULT_GOODPUT, HOURS_CHECKED_SENTENCE
from planner.systems.layout import ParallelPlan, layout_summary, search_layouts
from planner.systems.published import expected_mfu, hours_range

DEFAULT_SEQ_LEN = 4096


def parse_mfu(text: str) -> float | str:
    """An MFU as typed on the command line: a fraction, or 'auto' (predict it for the best layout)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return check_mfu(float(text))
    except ValueError:
        raise PlannerError(f"MFU must be a fraction such as 0.4, or 'auto' (got {text!r})") from None


def shape_for(params: float, preset: str | None = None, seq_len: int = DEFAULT_SEQ_LEN) -> ModelConfig:
    if not preset:
        return suggest_shape(params, seq_len=seq_len)
    cfg = get_preset(preset)
    # The layout's MFU must be the MFU of the model costed: a 'tiny' preset priced a 7B run at tiny's MFU.
    active = param_counts(cfg).active
    if not 0.5 <= params / active <= 2:
        raise PlannerError(f"--preset {preset} has {active:.3g} (active) parameters, not the {params:.3g} costed: "
                           "give the preset of that model, or leave --preset out for a suggested shape")
    return cfg


def layout_cost(params: float, tokens: float, gpu: str, gpus: int, layout: ParallelPlan,
                goodput: float = DEFAULT_GOODPUT) -> Cost:
    """Training cost at the expected MFU of `layout` (found by search_layouts), with its range."""
    cost = training_cost(params, tokens, gpu, gpus, expected_mfu(layout.mfu), goodput)
    return cost.model_copy(update={"layout": layout_summary(layout), "layout_mfu": layout.mfu,
                                   "gpu_hours_range": hours_range(cost.gpu_hours),
                                   "gpu_hours_checked": HOURS_CHECKED_SENTENCE})


def auto_cost(params: float, tokens: float, gpu: str, gpus: int, seq_len: int = DEFAULT_SEQ_LEN,
              goodput: float = DEFAULT_GOODPUT, preset: str | None = None) -> Cost:
    """Training cost at the expected MFU of the best layout for a model of `params` (or `preset`) on `gpus`."""
    plan = search_layouts(shape_for(params, preset, seq_len), gpus, gpu, seq_len)
    return layout_cost(params, tokens, gpu, gpus, plan, goodput)
