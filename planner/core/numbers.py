"""One reading of numbers as people write them, and one positivity check, for budgets, CLI flags and uploads.

`parse_number` reads one value: 190000000, 1.9e8, "190,000,000" (groups of three with one separator: ',', '_',
space, apostrophe or a non-breaking space), "7B" / "1.4T" (k/M/B/T suffixes, when `suffixes`), and with
`decimal_comma` "3,25" or "1.234,5" (European spreadsheets, whose fields are separated by ';').
Booleans are never numbers (a spreadsheet's TRUE is not a loss of 1.0), and integers too large for a float
become infinite (the caller refuses them as such) instead of raising OverflowError.
"""
from __future__ import annotations

import math
import re
from numbers import Real

from planner.errors import PlannerError

SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9,
         "t": 1e12, "trillion": 1e12}
_SUFFIX = r"(k|thousand|mn|million|m|bn|billion|b|trillion|t)"
EMPTY_CELLS = {"", "nan", "none", "null", "na", "n/a", "-"}
_GROUPS = r"\d{1,3}(?P<sep>[,_ '\u00a0\u202f])\d{3}(?:(?P=sep)\d{3})*"
_NUMBER = re.compile(rf"([+-]?(?:{_GROUPS}|\d+)(?:\.\d*)?(?:e[+-]?\d+)?|[+-]?\.\d+(?:e[+-]?\d+)?)\s*{_SUFFIX}?",
                     re.IGNORECASE)
# Decimal comma: "3,25", "-0,5", "1.234,5", "1 234,5", "2,5e-3" (thousands by '.', space or apostrophe).
_DECIMAL_COMMA = re.compile(r"([+-]?(?:\d{1,3}(?P<sep>[. '\u00a0\u202f])\d{3}(?:(?P=sep)\d{3})*|\d+)),(\d+)"
                            rf"(e[+-]?\d+)?\s*{_SUFFIX}?", re.IGNORECASE)
_THOUSANDS = re.compile(r"[,_ '\u00a0\u202f]")
_THOUSANDS_WITH_COMMA_DECIMALS = re.compile(r"[. '\u00a0\u202f]")
NUMBER_EXAMPLES = "like 1.9e8, 190,000,000 or 190M"


def _as_float(value) -> float:
    """float() that turns an integer too large for a double into +-inf instead of raising."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def is_bool(value) -> bool:
    """Python's and numpy's booleans (numpy's are not `bool`, and float() would make them 1.0)."""
    return isinstance(value, bool) or (type(value).__module__ == "numpy" and "bool" in type(value).__name__)


def parse_number(value, suffixes: bool = True, decimal_comma: bool = False) -> float | None:
    """One value as a float: NaN for an empty cell, None when it is not a number (booleans included).

    'inf' and '1e400' are floats (infinite); validation drops them. '3,25' is a number only with
    `decimal_comma`; '2M' only with `suffixes` (a loss of '2M' is a typo, not two million)."""
    if value is None or is_bool(value):
        return math.nan if value is None else None
    if isinstance(value, Real):
        return _as_float(value)
    text = str(value).strip()
    if text.lower() in EMPTY_CELLS:
        return math.nan
    try:
        return float(text)  # also 'inf', '-inf', '1e400', and Python's '1_000'
    except ValueError:
        pass
    if decimal_comma and (m := _DECIMAL_COMMA.fullmatch(text)):
        number = float(_THOUSANDS_WITH_COMMA_DECIMALS.sub("", m.group(1)) + "." + m.group(3) + (m.group(4) or ""))
        suffix = m.group(5)
    elif m := _NUMBER.fullmatch(text):
        number, suffix = float(_THOUSANDS.sub("", m.group(1))), m.group(3)
    else:
        return None
    if suffix and not suffixes:
        return None
    return number * SCALE[suffix.lower()] if suffix else number


def parse_count(text, what: str = "number") -> float:
    """A positive, finite count as people write it ('7e9', '7B', '1.4T', '70,000,000'), else PlannerError."""
    value = parse_number(text)
    if value is None or not math.isfinite(value) or value <= 0:
        raise PlannerError(f"'{text}' is not a positive {what}; write it like 7e9, 7B or 1.4T")
    return value


def check_positive(name: str, value, unit: str = "") -> float:
    """The one 'must be a positive number' check: finite, > 0, and not a boolean."""
    if is_bool(value) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise PlannerError(f"{name} must be a positive number{unit and ' of ' + unit} (got {value!r})")
    return float(value)
