"""Goodput: the sourced default, hours with and without it, and what each published run implies."""
from statistics import median

import pytest

from planner.catalog import get_model
from planner.core.budget import training_cost, training_flops
from planner.core.hardware import get_accelerator
from planner.errors import PlannerError
from planner.systems.goodput import DEFAULT_GOODPUT, RUN_SETUPS, published_goodputs, run_goodput


def test_default_goodput_is_llama_3s_effective_training_time():
    assert DEFAULT_GOODPUT == 0.9  # Dubey et al. 2024 §3.3.4: ">90% effective training time"


def test_goodput_divides_the_hours():
    steady = training_cost(7e9, 1e12, "H100", 64, 0.4)
    real = training_cost(7e9, 1e12, "H100", 64, 0.4, goodput=0.9)
    assert real.gpu_hours == pytest.approx(steady.gpu_hours / 0.9)
    assert steady.gpu_hours == pytest.approx(6 * 7e9 * 1e12 / (0.4 * 989e12 * 3600))
    with pytest.raises(PlannerError):
        training_cost(7e9, 1e12, "H100", 64, 0.4, goodput=1.5)


def test_implied_goodput_is_ideal_hours_over_reported():
    r = run_goodput("LLaMA-65B")
    model = get_model("LLaMA-65B")
    ideal = training_flops(model.params, model.tokens) / (get_accelerator("A100-80GB").peak_flops
                                                          * r.predicted_mfu * 3600)
    assert r.implied_goodput == pytest.approx(ideal / 1022362)
    assert r.predicted_gpu_hours == pytest.approx(ideal / DEFAULT_GOODPUT)


def test_every_run_with_published_hours_has_a_setup():
    runs = published_goodputs()
    assert {r.model for r in runs} == set(RUN_SETUPS)
    # Goodput above 1 would mean the run beat the predicted steady state; below 0.3, that the published hours
    # cover far more than one pre-training run (Llama 3 8B's model-card hours, OPT's restarts).
    assert all(0.25 < r.implied_goodput < 1.5 for r in runs)


def test_published_gpu_hours_with_auto_mfu_and_default_goodput():
    """Median error of predicted vs published GPU-hours (13 catalog runs). The goal of issue 12 is 10%; we reach
    ~13% (benchmarks/RESULTS.md): runs whose hours include far more than one clean run (Llama 3 8B's model-card
    total, OPT's restarts, BLOOM) stay 40-65% under. This pins the current accuracy so it cannot silently drop."""
    runs = published_goodputs()
    assert median(abs(r.error) for r in runs) <= 0.15
    assert sum(abs(r.error) <= 0.15 for r in runs) >= 6
