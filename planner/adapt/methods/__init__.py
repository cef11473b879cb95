"""The adaptation methods, one class per file; `REGISTRY` lists them in the order pages and tables show them.

Adding a method = one file with one `AdaptMethod` subclass + `register(TheMethod())` (here, for a built-in
method) + its test; nothing else branches on a method's name.
"""
from __future__ import annotations

from planner.adapt.methods.base import AdaptMethod
from planner.adapt.methods.bitfit import BitFit
from planner.adapt.methods.full import FullFineTuning
from planner.adapt.methods.ia3 import IA3
from planner.adapt.methods.lora import LoRA
from planner.adapt.methods.prefix import PrefixTuning
from planner.adapt.methods.probe import LinearProbe
from planner.adapt.methods.prompt import PromptTuning
from planner.adapt.methods.qlora import QLoRA
from planner.adapt.methods.zero_shot import ZeroShot
from planner.errors import PlannerError

REGISTRY: dict[str, AdaptMethod] = {}


def register(method: AdaptMethod) -> AdaptMethod:
    """Add a method (by its `name`); a second method with the same name is refused."""
    if not method.name or method.name in REGISTRY:
        raise PlannerError(f"an adaptation method needs a new, non-empty name (got {method.name!r})")
    REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def method_names() -> list[str]:
    return list(REGISTRY)


def get_method(name: str) -> AdaptMethod:
    if name not in REGISTRY:
        raise PlannerError(f"unknown adaptation method '{name}'; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


for _method in (FullFineTuning(), LoRA(), QLoRA(), PromptTuning(), PrefixTuning(), IA3(), BitFit(),
                LinearProbe(), ZeroShot()):
    register(_method)
