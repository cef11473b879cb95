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
