"""Fit page (AppTest): the sample fits on load; methods, bootstrap, bad input and saving work."""
import pytest
from streamlit.testing.v1 import AppTest

from planner import laws

PAGE = "../pages/fit.py"


@pytest.fixture
def app():
    return AppTest.from_file(PAGE, default_timeout=120).run()


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_sample_is_fitted_on_load(app):
    assert not app.exception and not app.error
    metrics = _metrics(app)
    assert metrics["points / runs"] == "25 / 25"
    assert 0.1 < float(metrics["a (N_opt ∝ C^a)"]) < 0.9
    table = app.dataframe[-1].value
    assert list(table["parameter"][:5]) == ["E", "A", "B", "alpha", "beta"]
    assert "parameters" in app.success[0].value  # the optimum at the default 1e21 FLOPs
    assert len(app.get("plotly_chart")) >= 3


def test_approach2_and_bootstrap(app):
    app.selectbox(key="method").set_value("approach2").run()
    assert not app.exception and not app.error
    app.number_input(key="boot").set_value(100).run()
    assert not app.exception
    table = app.dataframe[-1].value
    row = table[table["parameter"] == "a"].iloc[0]
    assert row["95% low"] <= row["estimate"] <= row["95% high"]


def test_bad_target_shows_an_error_and_recovers(app):
    app.text_input(key="target").set_value("lots").run()
    assert not app.exception and app.error
    assert app.selectbox(key="method").value == "approach3"  # the inputs are still there
    app.text_input(key="target").set_value("1e22").run()
    assert not app.error and "1e+22" in app.success[0].value


def test_save_law_for_the_plan_page(app):
    app.text_input(key="law_name").set_value("page-fit").run()
    next(b for b in app.button if b.label == "Save law for the Plan page").click().run()
    assert not app.exception
    assert any("Saved 'page-fit'" in s.value for s in app.success)
    assert "page-fit" in laws.saved_laws()
