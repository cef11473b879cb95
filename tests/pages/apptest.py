"""Shared AppTest helpers for the page tests: run a page with no exception, read a metric by its label."""
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


def run_page(name: str, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)
