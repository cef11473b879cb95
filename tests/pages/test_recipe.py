"""The run recipe on the Plan and Models pages (AppTest): serving demand, over-training, hyperparameters,
the check-a-figure box, quoted figures and vision presets; bad input is a message, the rest of the page works."""
from pathlib import Path

from streamlit.testing.v1 import AppTest
from tests.conftest import REPO

PAGES = REPO / "pages"


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=90).run()
    assert not at.exception, at.exception
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _text_input(at: AppTest, key: str):
    return next(w for w in at.text_input if w.key == key)


def test_plan_page_shows_serving_overtraining_and_hparams():
    at = _run("plan.py")
    assert not at.error
    assert any(s.value == "Beyond the compute-optimal run" for s in at.subheader)
    assert [t.label for t in at.tabs][-3:] == ["Serving demand", "Over-training", "Learning rate & batch"]
    assert any("deepseek2024: peak LR" in c.value for c in at.caption)  # next to the suggested shape
    tables = [t.value for t in at.table]
    serving = next(t for t in tables if "run" in t.columns)
    assert list(serving["run"]) == ["training-only optimum", "inference-aware optimum"]
    assert any("loss penalty" in t.columns and len(t) == 7 for t in tables)
    assert any("peak LR" in t.columns for t in tables)
    assert _metric(at, "Total cost saved").endswith("%")


def test_more_serving_demand_gives_a_smaller_model():
    at = _run("plan.py")
    _text_input(at, "inference_tokens").set_value("1e12").run()
    small_demand = _metric(at, "Serving-aware tokens/param")
    _text_input(at, "inference_tokens").set_value("1e15").run()
    assert float(_metric(at, "Serving-aware tokens/param")) > float(small_demand)


def test_bad_serving_demand_is_a_message_and_the_rest_works():
    at = _run("plan.py")
    _text_input(at, "inference_tokens").set_value("lots").run()
    assert not at.exception
    assert any("not a positive number" in e.value for e in at.error)
    assert any("loss penalty" in t.value.columns for t in at.table)  # over-training still shown


def test_models_page_checks_a_figure_and_lists_quoted_figures_and_vision():
    at = _run("models.py")
    assert not at.exception
    assert any("computed figure" in w.value for w in at.warning)  # the default: Llama 2 70B at 6000 PF-days
    tables = [t.value for t in at.table]
    quoted = next(t for t in tables if "figure" in t.columns)
    assert len(quoted) == 6 and quoted["verdict"].str.startswith("agrees").sum() == 1
    vision = next(t for t in tables if "preset" in t.columns)
    assert "427,616,513" in set(vision["params"]) and "641,090,864" in set(vision["params"])
    notes = [m.value for m in at.markdown]  # the long reasons live in expanders below the tables
    assert any(n.startswith("**GPT-3 175B") and "agrees" in n for n in notes)
    assert sum(n.startswith("**clip-vit-l-14**") for n in notes) == 1


def test_models_page_bad_figure_is_a_message():
    at = _run("models.py")
    _text_input(at, "claim_quoted").set_value("a lot").run()
    assert not at.exception
    assert any("compute figure" in e.value for e in at.error)
    assert any("figure" in t.value.columns for t in at.table)  # the quoted-figures table still there
    _text_input(at, "claim_quoted").set_value("9722 PF-days").run()
    assert any("agrees" in s.value for s in at.success)


def test_plan_page_recipe_falls_back_to_the_default_law():
    at = AppTest.from_file(str(PAGES / "plan.py"), default_timeout=90).run()
    at.multiselect[0].set_value(["kaplan2020"]).run()
    assert not at.exception and not at.error
    assert any("the default: no chosen law has a loss surface" in c.value for c in at.caption)
