"""Job kinds: what a worker knows how to run. A kind is a function `fn(spec: dict, ctx) -> dict`.

Every kind is named in `KINDS` below, with the module and function that run it: one explicit list, read
by the worker (a separate process, so a kind must be importable by name, not registered at run time). A kind's
module is imported when a job of that kind runs, so `laws` or a page never pays for torch; a module that
fails to import fails that job with the ImportError as its reason, never silently.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from planner.errors import PlannerError

# kind -> (module, function). Adding a kind = one line here + its module.
KINDS: dict[str, tuple[str, str]] = {
    "sleep": ("planner.jobs.kinds", "sleep_job"),  # no dependencies: tests the plumbing
    "ladder-run": ("planner.verify.job", "train_job"),  # one run of a verification ladder
    "train": ("planner.verify.job", "train_job"),  # the same, as queued before the rename to ladder-run
    "adapt": ("planner.adapt.job", "adapt_job"),  # one measured adaptation run
}


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


def get(kind: str) -> Callable:
    """The function that runs `kind`, importing its module (an ImportError propagates: not skipped)."""
    if kind not in KINDS:
        raise PlannerError(f"unknown job kind {kind!r}; known kinds: {', '.join(names())}")
    module, name = KINDS[kind]
    return getattr(importlib.import_module(module), name)  # sys.modules makes a second call cheap


def names() -> list[str]:
    return sorted(KINDS)


def sleep_job(spec: dict, ctx: JobContext) -> dict:
    """A kind with no dependencies, for testing the plumbing: `steps` steps of `step_s` seconds each.
    Resumes from `ctx.checkpoint_dir/step` like a real run would; `fail_at` raises to test failures;
    `checkpoint_bytes` writes a checkpoint of that size each step (to test a disk filling up)."""
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
        if spec.get("checkpoint_bytes"):
            (ctx.checkpoint_dir / "state.bin").write_bytes(bytes(int(spec["checkpoint_bytes"])))
        marker.write_text(str(step + 1))
        ctx.log(step + 1, value=float(step + 1), progress=(step + 1) / steps)
    return {"steps": steps, "resumed_from": start}

