"""planner.core.numbers: the one number parser (budgets, CLI flags, uploads) and the one positivity check."""
import math

import numpy as np
import pytest

from planner.core import budget, numbers
from planner.errors import PlannerError


@pytest.mark.parametrize("text, value", [
    ("7B", 7e9), ("1.4T", 1.4e12), ("350M", 3.5e8), ("10k", 1e4), ("7 billion", 7e9), ("3 mn", 3e6),
    ("190,000,000", 1.9e8), ("190 000 000", 1.9e8), ("1'000'000", 1e6), ("1_000", 1e3), ("1.9e8", 1.9e8),
    ("1,234,567.5", 1234567.5), (" 42 ", 42.0), (".5", 0.5), (7, 7.0), (np.int64(5), 5.0), (np.float32(2.5), 2.5),
])
def test_numbers_as_people_write_them(text, value):
    assert numbers.parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("cell", [True, False, np.True_, "TRUE", "false", "oops", "3,25", "1,23,456", "1,000 000",
                                  "2024-01-05", "=1+2", "[x](http://e.example)"])
def test_not_numbers(cell):
    """Booleans are never numbers (a spreadsheet's TRUE is not a loss of 1.0); a lone comma may be decimal."""
    assert numbers.parse_number(cell) is None


def test_decimal_commas_only_when_asked():
    assert numbers.parse_number("3,25") is None
    assert numbers.parse_number("3,25", decimal_comma=True) == 3.25
    assert numbers.parse_number("1.234,5", decimal_comma=True) == 1234.5
    assert numbers.parse_number("-0,5", decimal_comma=True) == -0.5
    assert numbers.parse_number("2,5e-3", decimal_comma=True) == pytest.approx(2.5e-3)
    assert numbers.parse_number("190,000,000", decimal_comma=True) == 1.9e8  # groups of three stay thousands


def test_suffixes_can_be_refused():
    assert numbers.parse_number("2M", suffixes=False) is None  # a loss of "2M" is a typo, not two million


def test_huge_and_empty_values():
    assert numbers.parse_number(10**400) == math.inf and numbers.parse_number(-(10**400)) == -math.inf
    assert numbers.parse_number("9" * 400) == math.inf and numbers.parse_number("1e400") == math.inf
    assert all(math.isnan(numbers.parse_number(v)) for v in ("", " NaN ", "n/a", None, "-"))


def test_parse_count_is_the_one_count_parser_and_budget_shares_its_suffixes():
    assert numbers.parse_count("1.4T") == 1.4e12 and budget._SCALE is numbers.SCALE
    for bad in ("-5", "0", "inf", "TRUE", "lots"):
        with pytest.raises(PlannerError, match="not a positive"):
            numbers.parse_count(bad)


def test_check_positive_is_the_one_check():
    assert budget.check_positive is numbers.check_positive
    assert numbers.check_positive("params", 7e9) == 7e9
    for bad in (0, -1, math.inf, math.nan, True, "7"):
        with pytest.raises(PlannerError, match="params must be a positive number of weights"):
            numbers.check_positive("params", bad, "weights")
