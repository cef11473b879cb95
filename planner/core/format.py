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


def usd(x: float | None) -> str:
    """$2.1M, $950.00, < $0.01 (a tiny CPU run), — when unknown: every dollar figure in the app."""
    if x is None or not math.isfinite(x):
        return "—"
    if 0 < x < 0.01:
        return "< $0.01"
    return "$" + count(x, 3) if x >= 1e3 else f"${x:,.2f}"


def hours(x: float) -> str:
    return f"{count(x)} GPU-h"


def duration(seconds: float) -> str:
    """A time people read at a glance: 42 s, 3.1 minutes, 5.0 hours, 12.0 days, 115 years."""
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} minutes"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} hours"
    if seconds < 365 * 86400:
        return f"{seconds / 86400:,.1f} days"
    years = seconds / (365.25 * 86400)
    if years >= 1e6:  # a 300-digit count of years is not read at a glance
        return f"{years:.1e} years"
    return f"{years:,.1f} years" if years < 10 else f"{years:,.0f} years"


def days(x: float) -> str:
    """A wall-clock time given in days (as budgets and costs carry it), in the unit people would say."""
    return duration(x * 86400)


def ratio(x: float) -> str:
    """Two significant digits for small ratios (0.15 tokens/param), one decimal otherwise (20.4)."""
    return f"{x:.1f}" if x >= 10 else f"{x:.2g}"


def gb(x: float) -> str:
    return f"{x:,.1f} GB"
