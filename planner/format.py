"""Number formatting for people: 7.0B params, 1.4T tokens, $2.1M, 3.1e23 FLOPs."""
import math

_SUFFIXES = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")]


def count(x: float | None, digits: int = 3) -> str:
    """7.0B, 1.40T, 512k: counts of parameters, tokens, GPUs."""
    if x is None or not math.isfinite(x):
        return "—"
    for scale, suffix in _SUFFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{suffix}"
    return f"{x:.{digits}g}"


def flops(x: float) -> str:
    return f"{x:.3g} FLOPs"


def usd(x: float) -> str:
    return "$" + count(x, 3) if x >= 1e3 else f"${x:,.2f}"


def hours(x: float) -> str:
    return f"{count(x)} GPU-h"


def days(x: float) -> str:
    """Wall-clock time given in days, in the unit people would say: 3.2 days, 5.0 hours, 12 minutes."""
    if x >= 1:
        return f"{x:,.1f} days"
    if x * 24 >= 1:
        return f"{x * 24:,.1f} hours"
    return f"{x * 24 * 60:,.1f} minutes"


def ratio(x: float) -> str:
    """Two significant digits for small ratios (0.15 tokens/param), one decimal otherwise (20.4)."""
    return f"{x:.1f}" if x >= 10 else f"{x:.2g}"


def gb(x: float) -> str:
    return f"{x:,.1f} GB"
