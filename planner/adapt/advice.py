"""The sentences that go with an adaptation estimate (the CLI's `advice` and `too_big` keys, the Adapt page's
messages). Words only: every number comes from the estimate they describe."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing only: estimate imports this module
    from planner.adapt.estimate import AdaptEstimate

TRY = ("use QLoRA or LoRA, gradient checkpointing, a smaller micro-batch or shorter sequences, or shard over "
       "several GPUs")


def does_not_fit(label: str, model: str, e: AdaptEstimate) -> str:
    """One estimate that is too big for one GPU ("" when it fits)."""
    if e.fits_one_gpu:
        return ""
    return (f"{label} of {model} needs {e.memory_gb:.1f} GB per GPU, more than one {e.accelerator} "
            f"({e.accelerator_memory_gb:.0f} GB): {TRY}")


def cheapest(best_label: str | None, best: AdaptEstimate | None, accelerator: str,
             checkpointing: bool = False) -> str:
    if best is None:
        first = "" if checkpointing else "turn on gradient checkpointing, "  # never advise what is already on
        return (f"no trained method fits on one {accelerator}: {first}shorten sequences, use a smaller micro-batch, "
                "shard over several GPUs or pick a larger accelerator")
    return (f"cheapest method that fits on one {best.accelerator}: {best_label} "
            f"({best.memory_gb:.1f} GB, {best.gpu_hours:.3g} GPU-hours, ${best.usd:,.0f})")


def too_big(big: list[tuple[str, AdaptEstimate]]) -> str:
    """The methods (label, estimate) that do not fit on one GPU, and what to try."""
    if not big:
        return ""
    first = big[0][1]
    return (f"more than one {first.accelerator} ({first.accelerator_memory_gb:.0f} GB): "
            + ", ".join(f"{label} {e.memory_gb:.0f} GB" for label, e in big)
            + ". Try QLoRA or LoRA, gradient checkpointing, a smaller micro-batch, shorter sequences, "
              "or sharding over several GPUs.")
