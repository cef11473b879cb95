"""Fit page reruns (AppTest): the fit is cached on what changes it, so inputs that do not change it do not refit."""
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

import planner.fitting

PAGE = str(REPO / "pages" / "fit.py")


def test_a_new_seed_without_bootstrap_reuses_the_fit_and_a_new_target_refits(monkeypatch):
    calls = []
    real = planner.fitting.fit_runs

    def counting(table, options):
        calls.append(options)
        return real(table, options)

    monkeypatch.setattr(planner.fitting, "fit_runs", counting)  # the page imports it from here on every run
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["target"] = "3.21e21"  # a target no other test uses: the process-wide cache starts empty
    at.run()
    assert not at.exception and len(calls) == 1
    next(w for w in at.number_input if w.label == "Seed").set_value(5).run()
    assert not at.exception and len(calls) == 1  # seed only draws bootstrap resamples: same fit
    at.text_input(key="target").set_value("3.22e21").run()
    assert not at.exception and len(calls) == 2
