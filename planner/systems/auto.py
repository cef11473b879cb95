"""`--mfu auto`: the MFU predicted for the best layout of a model, with the default goodput, for cost and plan."""
from __future__ import annotations

from planner.core.architecture import ModelConfig, get_preset, suggest_shape
from planner.core.budget import Cost, check_mfu, training_cost
from planner.errors import PlannerError
from planner.systems.goodput import DEFAULT_GOODPUT
from planner.systems.layout import layout_summary, search_layouts

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
    return get_preset(preset) if preset else suggest_shape(params, seq_len=seq_len)


def auto_cost(params: float, tokens: float, gpu: str, gpus: int, seq_len: int = DEFAULT_SEQ_LEN,
              goodput: float = DEFAULT_GOODPUT, preset: str | None = None) -> Cost:
    """Training cost at the predicted MFU of the best layout for a model of `params` (or `preset`) on `gpus`."""
    plan = search_layouts(shape_for(params, preset, seq_len), gpus, gpu, seq_len)
    cost = training_cost(params, tokens, gpu, gpus, plan.mfu, goodput)
    return cost.model_copy(update={"layout": layout_summary(plan)})
