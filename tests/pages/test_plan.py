"""Plan page through Streamlit's AppTest: defaults render a plan; inputs change it; bad input is a message."""
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import metric, run_page as run_pages_page


def run_page() -> AppTest:
    return run_pages_page("plan")


def test_default_plan_shows_the_optimum_and_its_cost():
    at = run_page()
    assert not at.error
    assert metric(at, "Parameters N*").endswith("B")
    assert metric(at, "Cost").startswith("$")
    assert "Budget:" in at.info[0].value
    assert len(at.dataframe) == 2  # the laws side by side, and the fixed-size counterpart


def test_switching_to_flops_changes_the_plan():
    at = run_page()
    before = metric(at, "Parameters N*")
    at.radio[0].set_value("FLOPs").run()
    at.text_input[0].set_value("1e21").run()
    assert not at.exception
    assert metric(at, "Parameters N*") != before
    assert "1e+21 FLOPs" in at.info[0].value


def test_free_text_budget_is_understood():
    at = run_page()
    at.radio[0].set_value("Free text").run()
    at.text_input[0].set_value("$2M on A100-80GB").run()
    assert not at.error
    assert "A100-80GB" in at.info[0].value


def test_impossible_budget_is_a_message_not_a_traceback():
    at = run_page()
    at.radio[0].set_value("FLOPs").run()
    at.text_input[0].set_value("-3e22").run()
    assert not at.exception
    assert at.error and "positive" in at.error[0].value


def test_budget_too_small_for_any_model():
    at = run_page()
    at.radio[0].set_value("FLOPs").run()
    at.text_input[0].set_value("1000").run()
    assert not at.exception
    assert "too small for any model" in at.error[0].value


def test_unreadable_free_text_is_explained():
    at = run_page()
    at.radio[0].set_value("Free text").run()
    at.text_input[0].set_value("a lot of compute").run()
    assert "could not read the budget" in at.error[0].value


def test_a_small_budget_still_draws_its_charts():
    """At 1e15 FLOPs the IsoFLOP tab asked Kaplan for budgets two decades below, too small for any model, and
    the page raised after the plan had rendered."""
    at = run_page()
    at.radio[0].set_value("FLOPs").run()
    at.text_input[0].set_value("1e15").run()
    assert not at.exception and not at.error
    assert at.get("plotly_chart")  # the open IsoFLOP tab, with the budgets each law can size


def test_a_huge_serving_demand_is_refused_not_shown_as_nan():
    at = run_page()
    at.text_input(key="inference_tokens").set_value("1e300").run()
    assert not at.exception
    assert any("lifetime inference tokens must be between 0 and 1e+20" in e.value for e in at.error)
    assert not any("nan" in m.value.lower() for m in at.metric)


def test_a_fixed_size_past_what_floats_hold_is_a_message():
    at = run_page()
    amount = next(t for t in at.text_input if t.label == "Amount")
    amount.set_value("1e300").run()  # OverflowError from the power law
    assert not at.exception
    assert any("too large or too small to compute with" in e.value for e in at.error)


def test_no_law_chosen_says_which_law_is_used():
    at = run_page()
    at.multiselect[0].set_value([]).run()
    assert not at.exception
    assert any("No law chosen: planning with the default" in c.value for c in at.caption)


def test_min_gpus_is_never_nan_in_the_laws_table():
    at = run_page()
    table = next(d.value for d in at.dataframe if "min GPUs" in d.value.columns)
    assert table["min GPUs"].map(lambda v: isinstance(v, str) and v != "nan").all()
