"""Fit page (AppTest): the sample fits on load; methods, bootstrap, bad input and saving work."""
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

from planner.core import laws
from planner.views import fit as plots

PAGE = str(REPO / "pages" / "fit.py")


@pytest.fixture
def app():
    return AppTest.from_file(PAGE, default_timeout=120).run()


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _params(at):
    """The parameter table (the method comparison is another dataframe on the page)."""
    return next(d.value for d in at.dataframe if "parameter" in d.value.columns)


def _trust(at) -> list:
    """The markdown lines of the trust panel: the verdict line, then one line per warning."""
    return [m for m in at.markdown if m.value.startswith(("Trust:", *plots.WARNING_MARK.values()))]


def test_sample_is_fitted_on_load(app):
    assert not app.exception and not app.error
    metrics = _metrics(app)
    assert metrics["points / runs"] == "25 / 25"
    assert 0.1 < float(metrics["a (N_opt ∝ C^a)"]) < 0.9
    table = _params(app)
    assert list(table["parameter"][:5]) == ["E", "A", "B", "alpha", "beta"]
    assert "parameters" in app.success[0].value  # the optimum at the default 1e21 FLOPs
    assert len(app.get("plotly_chart")) >= 3


def test_approach2_and_bootstrap(app):
    app.selectbox(key="method").set_value("approach2").run()
    assert not app.exception and not app.error
    app.number_input(key="boot").set_value(100).run()
    assert not app.exception
    table = _params(app)
    row = table[table["parameter"] == "a"].iloc[0]
    assert float(row["95% low"]) <= float(row["estimate"]) <= float(row["95% high"])
    n_opt = table[table["parameter"] == "N_opt at 1e21 FLOPs"].iloc[0]
    assert n_opt["estimate"].endswith(("M", "B")) and n_opt["95% low"].endswith(("M", "B"))
    caption = next(c.value for c in app.caption if c.value.startswith("Held-out check"))
    assert "largest budget" in caption and "off by" in caption


def test_bad_target_shows_an_error_and_recovers(app):
    app.text_input(key="target").set_value("lots").run()
    assert not app.exception and app.error
    assert app.selectbox(key="method").value == "approach3"  # the inputs are still there
    app.text_input(key="target").set_value("1e22").run()
    assert not app.error and "1e+22" in app.success[0].value


@pytest.mark.parametrize("text", ["abc", "-1", "0", "nan", "inf", "1e400"])
def test_every_bad_target_gets_the_same_clear_message(app, text):
    """QA: 'abc' showed Python's float() message, -1/0/nan '1 validation error', inf and 1e400 nothing."""
    app.text_input(key="target").set_value(text).run()
    assert not app.exception and len(app.error) == 1
    shown = re.sub(r"\\(.)", r"\1", app.error[0].value)  # Markdown escapes (views.export.plain) render away
    assert shown == (f"target budget '{text}' is not a positive, finite number of FLOPs; "
                                  "write it like 1e21, 1e21 FLOPs, 3.2e22 or 5e3 PF-days")


def test_target_written_like_on_the_plan_page(app):
    app.text_input(key="target").set_value("1e21 FLOPs").run()
    assert not app.error and app.success[0].value.startswith("At 1e+21 FLOPs: ")
    app.text_input(key="target").set_value("").run()
    assert not app.error and not app.success and not any(
        str(p).startswith("N_opt") for p in _params(app)["parameter"])


def test_parameter_table_is_readable(app):
    """QA: the %.4g format was not applied (N_opt showed as 1675000000)."""
    table = _params(app).set_index("parameter")["estimate"]
    assert table["N_opt at 1e21 FLOPs"].endswith("B") and table["D_opt at 1e21 FLOPs"].endswith("B")
    assert len(table["alpha"]) <= 7 and "e+" not in "".join(table)
    assert "parameters on" in app.success[0].value and "B tokens" in app.success[0].value


def test_kaplan_shows_the_optimum_and_readable_constants(app):
    app.selectbox(key="method").set_value("kaplan").run()
    assert not app.exception and not app.error
    assert app.success[0].value.startswith("At 1e+21 FLOPs: ")
    table = _params(app).set_index("parameter")["estimate"]
    assert "e14" in table["N_c"] or "e13" in table["N_c"] or "e15" in table["N_c"]


def test_held_out_caption_says_how_many_more(app):
    caption = next(c.value for c in app.caption if c.value.startswith("Held-out check"))
    assert caption.count("olmo-") == 4 and " and 1 more, " in caption


def test_law_name_follows_the_method_until_typed(app):
    """QA: the name stayed 'my-approach3' after switching to Kaplan."""
    assert app.text_input(key="law_name").value == "my-approach3"
    app.selectbox(key="method").set_value("kaplan").run()
    assert app.text_input(key="law_name").value == "my-kaplan"
    app.text_input(key="law_name").set_value("team-law").run()
    app.selectbox(key="method").set_value("approach2").run()
    assert app.text_input(key="law_name").value == "team-law"


def test_bad_law_name_is_a_message(app):
    app.text_input(key="law_name").set_value("../escape").run()
    next(b for b in app.button if b.label == "Save law for the Plan page").click().run()
    assert not app.exception and any("law name '../escape' is not allowed" in e.value for e in app.error)
    assert "../escape" not in laws.saved_laws()


def test_save_law_for_the_plan_page(app):
    app.text_input(key="law_name").set_value("page-fit").run()
    next(b for b in app.button if b.label == "Save law for the Plan page").click().run()
    assert not app.exception
    assert any("Saved 'page-fit'" in s.value for s in app.success)
    assert "page-fit" in laws.saved_laws()


def test_trust_panel_and_method_comparison_on_the_sample(app):
    lines = _trust(app)
    assert lines[0].value.startswith("Trust: :green-background[**ok**]") and len(lines) == 1
    comparison = next(d.value for d in app.dataframe if "method" in d.value.columns)
    assert list(comparison["method"]) == ["Approach 1", "Approach 2", "Approach 3 (chosen)", "Kaplan"]
    assert comparison["N_opt"].str.endswith("B").all()


def test_intermediate_checkpoints_give_a_caution_with_an_explanation(app):
    app.radio(key="points").set_value("all").run()
    assert not app.exception and not app.error
    verdict, *warnings = _trust(app)
    assert "**caution**" in verdict.value
    first = next(w for w in warnings if "intermediate checkpoints" in w.value)
    assert first.value.startswith(plots.WARNING_MARK[False]) and "use final points" in first.value
    assert "Hoffmann et al. 2022 §3.1" in first.help  # the hover explanation


def test_hoffmann_solver_gives_the_same_fit(app):
    a_varpro = _metrics(app)["a (N_opt ∝ C^a)"]
    app.radio(key="solver").set_value("hoffmann").run()
    assert not app.exception and _metrics(app)["a (N_opt ∝ C^a)"] == a_varpro


def test_bootstrap_gives_prediction_intervals(app):
    app.number_input(key="boot").set_value(100).run()
    assert not app.exception
    caption = next(c.value for c in app.caption if c.value.startswith("95% prediction interval at 1e21 FLOPs"))
    assert "loss " in caption and "N_opt " in caption


def test_saving_again_under_a_saved_name_asks_to_replace(app):
    """A second save under the same name silently replaced the first fit."""
    app.text_input(key="law_name").set_value("page-fit").run()
    save = lambda: next(b for b in app.button if b.label == "Save law for the Plan page").click().run()  # noqa: E731
    save()
    save()
    assert not app.exception and any("already saved" in e.value for e in app.error)
    app.checkbox(key="law_replace").check().run()
    save()
    assert not app.exception and any("Saved 'page-fit'" in s.value for s in app.success)
