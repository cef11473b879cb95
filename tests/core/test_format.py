"""planner.core.format: every number people read goes through these, so their edges are pinned here."""
import math

import pytest

from planner.core import format as fmt


@pytest.mark.parametrize("x, text", [(7e9, "7B"), (1.4e12, "1.4T"), (512e3, "512k"), (6.7e6, "6.7M"), (950, "950"),
                                     (123_456_789, "123M"), (-2e9, "-2B"), (None, "—"), (math.inf, "—"),
                                     (math.nan, "—")])
def test_count(x, text):
    assert fmt.count(x) == text


@pytest.mark.parametrize("x, text", [(2_100_000, "$2.1M"), (950, "$950.00"), (1234.5, "$1.23k"), (0.004, "< $0.01"),
                                     (0, "$0.00"), (None, "—"), (math.nan, "—")])
def test_usd(x, text):
    assert fmt.usd(x) == text


@pytest.mark.parametrize("seconds, text", [(0.2, "< 1 s"), (42, "42 s"), (89, "89 s"), (186, "3.1 minutes"),
                                           (5 * 3600, "5.0 hours"), (12 * 86400, "12.0 days"),
                                           (115 * 365.25 * 86400, "115 years"),
                                           (1.14 * 365.25 * 86400, "1.1 years"),  # was "1 years"
                                           (1e300 * 3600, "1.1e+296 years")])  # was a 297-digit integer
def test_duration_picks_the_unit_people_say(seconds, text):
    assert fmt.duration(seconds) == text


def test_days_is_duration_in_days():
    assert fmt.days(0.5) == fmt.duration(43200) == "12.0 hours"


@pytest.mark.parametrize("x, text", [(0.15, "0.15"), (3.14159, "3.1"), (20.44, "20.4"), (93.0, "93.0")])
def test_ratio(x, text):
    assert fmt.ratio(x) == text


def test_units():
    assert fmt.flops(3.14e23) == "3.14e+23 FLOPs"
    assert fmt.hours(1_022_362) == "1.02M GPU-h"
    assert fmt.gb(1234.56) == "1,234.6 GB"
