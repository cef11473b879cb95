"""Scaling laws against the published numbers they come from."""
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from planner.core import laws
from planner.errors import PlannerError

# Hoffmann et al. 2022, Table 3 (Approach 1): params -> (FLOPs, tokens) at the compute optimum.
HOFFMANN_TABLE3 = [
    (400e6, 1.92e19, 8.0e9), (1e9, 1.21e20, 20.2e9), (10e9, 1.23e22, 205.1e9), (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12), (280e9, 9.90e24, 5.9e12), (520e9, 3.43e25, 11.0e12), (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]


@pytest.mark.parametrize("params, flops, tokens", HOFFMANN_TABLE3)
def test_approach1_reproduces_hoffmann_table3(params, flops, tokens):
    """Hoffmann et al. 2022, Table 3: the Approach-1 law recovers each row's size within 1.5% and tokens within 1%.

    Exception: the 67B row prints 1.5T tokens, but its own FLOPs give 5.76e23 / (6 * 67e9) = 1.43T under C = 6ND;
    the 4.7% gap is the table's, so that row's tokens are held to 6%.
    """
    opt = laws.get_law("hoffmann2022-approach1").optimal(flops)
    assert opt.params == pytest.approx(params, rel=0.015)
    assert opt.tokens == pytest.approx(tokens, rel=0.06 if params == 67e9 else 0.01)


def test_table3_rows_obey_six_n_d():
    """The table itself uses C = 6ND (to its rounding; the 67B row is 4.7% off, see above)."""
    for params, flops, tokens in HOFFMANN_TABLE3:
        tolerance = 0.05 if params == 67e9 else 0.02
        assert laws.FLOPS_PER_PARAM_TOKEN * params * tokens == pytest.approx(flops, rel=tolerance)


def test_table2_exponents():
    """Hoffmann et al. 2022, Table 2: a = 0.46, b = 0.54 (Approach 3), 0.50 (Approach 1), 0.49 (Approach 2);
    Kaplan et al. 2020: a = 0.73."""
    unrounded = laws.get_law("hoffmann2022-unrounded")
    assert round(unrounded.a, 2) == 0.46 and round(unrounded.b, 2) == 0.54
    assert round(laws.get_law("hoffmann2022-approach1").a, 2) == 0.50
    assert round(laws.get_law("hoffmann2022-approach2").a, 2) == 0.49  # fitted to Table A3, lands on Table 2
    assert laws.get_law("kaplan2020").a == 0.73


@pytest.mark.parametrize("name", ["hoffmann2022", "hoffmann2022-unrounded", "besiroglu2024"])
@pytest.mark.parametrize("flops", [1e18, 5.88e23, 1e26])
def test_closed_form_optimum_matches_numerical_isoflop_minimum(name, flops):
    law = laws.get_law(name)
    opt = law.optimal(flops)
    res = minimize_scalar(lambda log_n: law.isoflop_loss(flops, math.exp(log_n)),
                          bounds=(math.log(1e3), math.log(1e15)), method="bounded",
                          options={"xatol": 1e-10})
    assert math.exp(res.x) == pytest.approx(opt.params, rel=1e-3)
    assert opt.flops == pytest.approx(laws.FLOPS_PER_PARAM_TOKEN * opt.params * opt.tokens)
    assert opt.loss == pytest.approx(res.fun, rel=1e-9)


def test_chinchilla_budget_under_besiroglu():
    """Besiroglu et al. 2024: their law puts Chinchilla's budget (5.88e23) near 70B params / 1.4T tokens."""
    opt = laws.get_law("besiroglu2024").optimal(5.88e23)
    assert 60e9 < opt.params < 85e9
    assert 15 < opt.tokens_per_param < 25


def test_kaplan_allocation_and_losses():
    """Kaplan et al. 2020: N_opt = 1.3e9 at 1 PF-day, growing as C^0.73; L(C) = (3.1e8 / C)^0.05."""
    kaplan = laws.get_law("kaplan2020")
    assert kaplan.optimal(laws.PF_DAY).params == pytest.approx(1.3e9)
    ratio = kaplan.optimal(1e3 * laws.PF_DAY).params / kaplan.optimal(laws.PF_DAY).params
    assert ratio == pytest.approx(1e3**0.73)
    assert kaplan.loss_of_compute(laws.PF_DAY) == pytest.approx((3.1e8) ** 0.05)
    assert kaplan.loss_of_params(8.8e13) == pytest.approx(1.0)
    assert kaplan.loss_of_tokens(5.4e13) == pytest.approx(1.0)
    # L(N, D) tends to L(N) = (N_c/N)^alpha_N as D grows
    assert kaplan.loss(1e9, 1e20) == pytest.approx((6.4e13 / 1e9) ** 0.076, rel=1e-3)


@pytest.mark.parametrize("name", list(laws.PRESETS))
def test_fixed_size_and_fixed_tokens_invert_the_allocation(name):
    law = laws.get_law(name)
    opt = law.optimal(1e22)
    assert law.optimal_tokens(opt.params) == pytest.approx(opt.tokens, rel=1e-9)
    assert law.optimal_params(opt.tokens) == pytest.approx(opt.params, rel=1e-9)


def test_isoflop_loss_is_vectorised_and_convex_around_the_optimum():
    law = laws.get_law("hoffmann2022")
    opt = law.optimal(1e21)
    sizes = opt.params * np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    losses = law.isoflop_loss(1e21, sizes)
    assert losses.shape == (5,)
    assert np.argmin(losses) == 2


def test_more_compute_lowers_the_optimal_loss():
    for law in laws.PRESETS.values():
        assert law.optimal(1e24).loss < law.optimal(1e22).loss


@pytest.mark.parametrize("flops", [0, -1e20, float("nan")])
def test_impossible_budgets_are_rejected_with_a_message(flops):
    with pytest.raises(PlannerError, match="compute budget must be a positive number of FLOPs"):
        laws.get_law("hoffmann2022").optimal(flops)


@pytest.mark.parametrize("flops", [1.01e30, 1e60, float("inf")])
def test_budgets_past_any_real_run_are_refused(flops):
    """1e60 FLOPs planned 3e38 GPUs and searched shapes for minutes; past MAX_FLOPS no law speaks."""
    with pytest.raises(PlannerError, match="past 1e\\+30, over 10,000 times the largest training run"):
        laws.get_law("hoffmann2022").optimal(flops)
    assert laws.get_law("hoffmann2022").optimal(laws.MAX_FLOPS).params > 0  # the bound itself still plans


def test_budget_too_small_for_any_model():
    with pytest.raises(PlannerError, match="too small for any model"):
        laws.get_law("hoffmann2022").optimal(1e3)


def test_unknown_law_lists_the_known_ones():
    with pytest.raises(PlannerError, match="besiroglu2024"):
        laws.get_law("chinchilla-2")


def test_saved_law_is_listed_and_planned_like_a_preset():
    fitted = laws.ChinchillaLaw(name="my-fit", E=1.8, A=400, B=900, alpha=0.33, beta=0.31, citation="fit")
    laws.save_law(fitted)
    assert laws.get_law("my-fit") == fitted
    assert any(s.name == "my-fit" and s.saved for s in laws.list_laws())
    with pytest.raises(PlannerError, match="published preset"):
        laws.save_law(fitted.model_copy(update={"name": "hoffmann2022"}))


def test_a_corrupt_saved_law_file_is_ignored():
    (laws.saved_laws_dir() / "broken.json").write_text("{not json")
    assert "broken" not in laws.all_laws()


@pytest.mark.parametrize("name", ["../../evil", "", "a/b", ".hidden", "x" * 65])
def test_law_names_cannot_escape_the_state_directory(name, tmp_path):
    fitted = laws.ChinchillaLaw(name=name, E=1.8, A=400, B=900, alpha=0.33, beta=0.31, citation="fit")
    with pytest.raises(PlannerError, match="not allowed"):
        laws.save_law(fitted)
    assert not list(laws.saved_laws_dir().parent.parent.rglob("evil*"))


@pytest.mark.parametrize("params, flops, tokens", laws.hoffmann_table("A3"))
def test_approach2_reproduces_hoffmann_table_a3(params, flops, tokens):
    """Hoffmann et al. 2022, App. D.3 Table A3 (Approach 2 columns): the preset is fitted to these rows and
    recovers each within 1% in size and tokens; the 67B row (1.7T tokens printed, 6.88e23 FLOPs) is the table's
    least consistent and is held to 4%."""
    opt = laws.get_law("hoffmann2022-approach2").optimal(flops)
    tolerance = 0.04 if params == 67e9 else 0.01
    assert opt.params == pytest.approx(params, rel=tolerance)
    assert opt.tokens == pytest.approx(tokens, rel=tolerance)


@pytest.mark.parametrize("params, flops, tokens", laws.hoffmann_table("3"))
def test_default_law_agrees_with_hoffmann_table3(params, flops, tokens):
    """The default (Besiroglu et al. 2024's replication) lands within 15% of every Table 3 row up to 1T params
    (the 10T row, two orders of magnitude past the data, within 25%); the rounded preset misses by 23-70%."""
    opt = laws.get_law(laws.DEFAULT_LAW).optimal(flops)
    assert opt.params == pytest.approx(params, rel=0.25 if params == 10e12 else 0.15)
    assert opt.warning == ""


def test_rounded_preset_is_kept_with_a_warning():
    """At Chinchilla's budget (Table 3: 67B on 1.5T) the rounded Approach-3 constants answer ~32B on ~3T."""
    opt = laws.get_law("hoffmann2022").optimal(5.76e23)
    assert 30e9 < opt.params < 34e9 and 85 < opt.tokens_per_param < 100
    assert "Besiroglu" in opt.warning


def test_saving_under_a_saved_name_needs_replace():
    """A second fit saved as 'my-fit' silently replaced the first one."""
    first = laws.ChinchillaLaw(name="my-fit", E=1.8, A=400, B=900, alpha=0.33, beta=0.31, citation="fit")
    laws.save_law(first)
    with pytest.raises(PlannerError, match="a law named 'my-fit' is already saved"):
        laws.save_law(first.model_copy(update={"E": 1.7}))
    assert laws.get_law("my-fit").E == 1.8
    laws.save_law(first.model_copy(update={"E": 1.7}), replace=True)
    assert laws.get_law("my-fit").E == 1.7
