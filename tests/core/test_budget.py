"""Budget conversions: FLOPs <-> GPU-hours <-> days on K GPUs <-> dollars, free-text budgets, validation."""
import re

import pytest

from planner.core.budget import (BudgetRequest, assumed_gpus, flops_to_gpu_hours, gpu_hours_to_flops, implied_mfu,
                            mfu_from_throughput, parse_budget, resolve_budget, training_cost, training_flops)
from planner.errors import PlannerError
from planner.core.hardware import get_accelerator

H100_HOUR_AT_FULL_PEAK = 989e12 * 3600  # FLOPs of one H100-SXM hour at its dense BF16 peak


def test_one_gpu_hour_is_peak_times_mfu_times_3600():
    assert gpu_hours_to_flops(1, "H100-SXM", 1.0) == pytest.approx(H100_HOUR_AT_FULL_PEAK)
    assert gpu_hours_to_flops(10, "H100-SXM", 0.5) == pytest.approx(5 * H100_HOUR_AT_FULL_PEAK)


def test_flops_and_gpu_hours_round_trip_and_implied_mfu_inverts_them():
    hours = flops_to_gpu_hours(1e24, "A100-80GB", 0.45)
    assert gpu_hours_to_flops(hours, "A100-80GB", 0.45) == pytest.approx(1e24)
    assert implied_mfu(1e24, hours, "A100-80GB") == pytest.approx(0.45)


def test_training_cost_is_6nd_spread_over_gpus_and_priced():
    cost = training_cost(7e9, 1e12, "H100-SXM", gpus=256, mfu=0.4)
    assert cost.flops == pytest.approx(4.2e22) == training_flops(7e9, 1e12)
    assert cost.gpu_hours == pytest.approx(4.2e22 / (0.4 * H100_HOUR_AT_FULL_PEAK))
    assert cost.days == pytest.approx(cost.gpu_hours / 256 / 24)
    assert cost.usd == pytest.approx(cost.gpu_hours * get_accelerator("H100-SXM").usd_per_hour)


def test_doubling_mfu_halves_hours_and_doubling_gpus_halves_days():
    base = training_cost(1e9, 2e10, "L4", gpus=8, mfu=0.3)
    assert training_cost(1e9, 2e10, "L4", gpus=8, mfu=0.6).gpu_hours == pytest.approx(base.gpu_hours / 2)
    faster = training_cost(1e9, 2e10, "L4", gpus=16, mfu=0.3)
    assert faster.days == pytest.approx(base.days / 2) and faster.usd == pytest.approx(base.usd)


def test_gpus_for_days_budget_resolves_in_every_unit():
    b = resolve_budget(BudgetRequest(gpus=512, days=30, accelerator="H100", mfu=0.4))
    assert b.accelerator == "H100-SXM" and b.given == "gpus+days" and not b.gpus_assumed
    assert b.gpu_hours == 512 * 30 * 24
    assert b.flops == pytest.approx(512 * 30 * 24 * 0.4 * H100_HOUR_AT_FULL_PEAK)
    assert b.usd == pytest.approx(512 * 30 * 24 * 2.99)


def test_every_way_of_stating_the_same_budget_agrees():
    ref = resolve_budget(BudgetRequest(gpu_hours=10_000, accelerator="A100-80GB", mfu=0.5))
    same = [BudgetRequest(flops=ref.flops), BudgetRequest(gpu_days=10_000 / 24), BudgetRequest(usd=ref.usd),
            BudgetRequest(gpus=100, days=10_000 / 2400)]
    for req in same:
        b = resolve_budget(req.model_copy(update=dict(accelerator="A100-80GB", mfu=0.5)))
        assert b.gpu_hours == pytest.approx(10_000) and b.flops == pytest.approx(ref.flops)


def test_without_a_gpu_count_the_fewest_power_of_two_gpus_spend_it_in_90_days():
    assert assumed_gpus(1) == 1
    assert assumed_gpus(90 * 24 * 300) == 512  # 300 GPUs needed -> next power of two
    b = resolve_budget(BudgetRequest(usd=2e6, accelerator="H100-SXM"))
    assert b.gpus_assumed and b.days <= 90 and b.gpus == 512


@pytest.mark.parametrize("text, expected", [
    ("512 H100 for 30 days", dict(gpus=512, days=30, accelerator="H100-SXM")),
    ("2048 x A100 for 3 weeks", dict(gpus=2048, days=21, accelerator="A100-80GB")),
    ("64 TPU v5p for 2 months", dict(gpus=64, days=60, accelerator="TPU-v5p")),
    ("$2M", dict(usd=2e6)),
    ("$1.5 million on MI300X", dict(usd=1.5e6, accelerator="MI300X")),
    ("250k USD", dict(usd=2.5e5)),
    ("1e24 FLOPs", dict(flops=1e24)),
    ("3.14e23", dict(flops=3.14e23)),
    ("3,640 PF-days", dict(flops=3640 * 8.64e19)),
    ("10k GPU-hours", dict(gpu_hours=1e4)),
    ("1,022,362 A100-80GB hours", dict(gpu_hours=1022362, accelerator="A100-80GB")),
    ("5 GPU-days", dict(gpu_days=5)),
])
def test_parse_budget_reads_common_phrasings(text, expected):
    req = parse_budget(text)
    for key, value in expected.items():
        assert getattr(req, key) == pytest.approx(value) if isinstance(value, float) else getattr(req, key) == value


def test_parse_budget_text_accelerator_wins_over_the_default():
    assert parse_budget("100 H100-PCIe for 10 days", accelerator="L4").accelerator == "H100-PCIe"
    assert parse_budget("$1M", accelerator="L4", mfu=0.3).model_dump(include={"accelerator", "mfu"}) == \
        {"accelerator": "L4", "mfu": 0.3}


@pytest.mark.parametrize("text", ["lots of compute", "", "-5 GPU-days", "$-2M"])
def test_unreadable_or_negative_text_is_a_planner_error(text):
    with pytest.raises(PlannerError, match="budget"):
        parse_budget(text)


@pytest.mark.parametrize("request_kwargs, message", [
    (dict(flops=0), "positive"),
    (dict(usd=-1e6), "positive"),
    (dict(gpu_hours=1e4, mfu=0), "MFU"),
    (dict(gpu_hours=1e4, mfu=1.5), "MFU"),
    (dict(gpu_hours=1e4, accelerator="Z80"), "unknown accelerator"),
    (dict(gpu_hours=1e4, usd=1e5), "exactly one"),
    (dict(), "exactly one"),
    (dict(days=30), "needs a number of GPUs"),
    (dict(gpus=0, days=30), "at least 1"),
])
def test_bad_budgets_raise_planner_errors_that_say_what_to_do(request_kwargs, message):
    with pytest.raises(PlannerError, match=message):
        resolve_budget(BudgetRequest(**request_kwargs))


@pytest.mark.parametrize("kwargs, message", [
    (dict(params=-7e9), "params must be a positive"), (dict(tokens=0), "tokens must be a positive"),
    (dict(mfu=0), "MFU"), (dict(mfu=1.5), "MFU"), (dict(gpus=0), "GPUs"), (dict(accelerator="nope"), "unknown"),
])
def test_training_cost_validates_its_inputs(kwargs, message):
    args = dict(params=7e9, tokens=1e12, accelerator="H100-SXM", gpus=8, mfu=0.4) | kwargs
    with pytest.raises(PlannerError, match=message):
        training_cost(**args)


def test_palm_540b_mfu_of_46_2_percent_is_reproduced_from_its_throughput():
    """Chowdhery et al. 2022 ('PaLM'), Table 3 and App. B: PaLM 540B trained at 238.3K tokens/s on 6144
    TPU v4 chips (275 TFLOP/s bf16 each) with model FLOPs per token 6N + 12·L·H·Q·T, N = 540.35B,
    L = 118 layers, H = 48 heads, Q = 256 head dim, T = 2048 sequence; reported MFU 46.2%."""
    flops_per_token = 6 * 540.35e9 + 12 * 118 * 48 * 256 * 2048
    mfu = mfu_from_throughput(238.3e3 * flops_per_token, chips=6144, accelerator="TPU-v4")
    assert mfu == pytest.approx(0.462, abs=0.0015)


@pytest.mark.parametrize("text, unread", [
    ("$2MM", "MM"),  # was read as $2
    ("$2Mx", "Mx"),
    ("1e24 FLOPs $5", "1e24 FLOPs"),  # two budgets: the $5 was used
    ("1e24 FLOPs for 3 days", "3 days"),  # the days were dropped
    ("512 H100 for 3 days and $5", "and $5"),
    ("$2M on A100-80GB for 3 days", "3 days"),
    ("1e24 flops flops", "flops"),
])
def test_a_budget_with_words_left_unread_is_refused(text, unread):
    with pytest.raises(PlannerError, match=f"could not read '{re.escape(unread)}' in the budget"):
        parse_budget(text)


@pytest.mark.parametrize("text, expected", [
    ("about $2M on H100", dict(usd=2e6, accelerator="H100-SXM")),
    ("a budget of 1e24 FLOPs", dict(flops=1e24)),
    ("512 GPUs for 30 days on A100-80GB", dict(gpus=512, days=30, accelerator="A100-80GB")),
    ("~$2M", dict(usd=2e6)),
])
def test_filler_words_around_a_budget_are_fine(text, expected):
    req = parse_budget(text)
    assert all(getattr(req, key) == value for key, value in expected.items())


@pytest.mark.parametrize("request_kwargs", [dict(usd=1e307), dict(gpu_hours=1e305), dict(flops=1e31)])
def test_a_budget_past_any_real_run_is_refused(request_kwargs):
    """$1e307 came out as inf FLOPs and ~1e302 GPUs."""
    with pytest.raises(PlannerError, match="past 1e\\+30"):
        resolve_budget(BudgetRequest(**request_kwargs))
