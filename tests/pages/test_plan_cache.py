"""The Plan page's reruns (AppTest): caches keyed on the chosen laws' definitions, only the open chart tab drawn."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from planner.core import laws
from tests.conftest import REPO

PAGE = str(REPO / "pages" / "plan.py")


def _n_star(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Parameters N*")


def test_a_law_saved_again_under_the_same_name_is_planned_anew():
    """The plan is cached; its key holds the law's definition, so re-saving 'mine' (Fit page) is not stale."""
    base = laws.PRESETS["hoffmann2022"]
    laws.save_law(base.model_copy(update={"name": "mine"}))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["sys_mfu_auto"] = False
    at.run()
    at.multiselect[0].set_value(["mine"]).run()
    assert not at.exception and at.subheader[0].value.endswith("mine")
    first = _n_star(at)
    laws.save_law(base.model_copy(update={"name": "mine", "alpha": base.alpha * 1.5}), replace=True)
    at.run()
    assert not at.exception and _n_star(at) != first


def test_only_the_open_chart_tab_is_drawn():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    charts = len(at.get("plotly_chart"))
    assert [t.label for t in at.tabs][:3] == ["IsoFLOP curves", "N* and D* frontier", "Memory per GPU"]
    at.session_state["plan_charts"] = "Memory per GPU"  # what clicking the tab does
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == charts  # one IsoFLOP chart (a panel per law) -> one memory chart
