"""Job kinds: what a worker knows how to run. A kind is a function `fn(spec: dict, ctx) -> dict`.

The worker is a separate process, so it cannot see kinds registered at run time in another process:
it imports the fixed list of modules in `KIND_MODULES`, each of which calls `register` on import.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from planner.errors import PlannerError

# Modules that register kinds when imported. Missing ones are skipped (a feature not built yet).
KIND_MODULES = ["planner.jobs.kinds", "planner.verify.job", "planner.adapt.measure"]

_KINDS: dict[str, Callable] = {}


@dataclass
class JobContext:
    """What a running job may use: log metrics, check for cancellation, keep checkpoints, pick a device."""

    job_id: int
    device: str
    checkpoint_dir: Path
    attempt: int = 1
    log_fn: Callable[[int, dict], None] = field(default=lambda step, metrics: None, repr=False)
    stop_fn: Callable[[], bool] = field(default=lambda: False, repr=False)

    def log(self, step: int, **metrics) -> None:
        """Record metrics at a step (loss, tokens_per_s, progress in [0, 1], ...)."""
        self.log_fn(step, metrics)

    def should_stop(self) -> bool:
        """True once the user cancelled the job: save what is useful and return."""
        return self.stop_fn()


def register(kind: str, fn: Callable) -> None:
    _KINDS[kind] = fn


def load_kind_modules() -> None:
    for name in KIND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


def get(kind: str) -> Callable:
    if kind not in _KINDS:
        load_kind_modules()
    if kind not in _KINDS:
        raise PlannerError(f"unknown job kind {kind!r}; known kinds: {', '.join(sorted(_KINDS))}")
    return _KINDS[kind]


def names() -> list[str]:
    load_kind_modules()
    return sorted(_KINDS)


def sleep_job(spec: dict, ctx: JobContext) -> dict:
    """A kind with no dependencies, for testing the plumbing: `steps` steps of `step_s` seconds each.
    Resumes from `ctx.checkpoint_dir/step` like a real run would; `fail_at` raises to test failures."""
    steps, step_s = int(spec.get("steps", 5)), float(spec.get("step_s", 0.1))
    marker = ctx.checkpoint_dir / "step"
    start = int(marker.read_text()) if marker.exists() else 0
    for step in range(start, steps):
        if ctx.should_stop():
            return {"stopped_at": step}
        if spec.get("fail_at") == step:
            raise RuntimeError(f"sleep job asked to fail at step {step}")
        time.sleep(step_s)
        ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(step + 1))
        ctx.log(step + 1, value=float(step + 1), progress=(step + 1) / steps)
    return {"steps": steps, "resumed_from": start}


register("sleep", sleep_job)
