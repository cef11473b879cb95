"""Security in a real browser: the Runs page shows file names, never the server's absolute paths."""
import pytest

from planner.jobs.store import JobStore
from tests.e2e.conftest import wait_for_app

pytestmark = pytest.mark.e2e


def test_runs_page_shows_file_names_not_server_paths(page_at, app_url, tmp_path_factory, monkeypatch):
    home = tmp_path_factory.getbasetemp() / "e2e-home0"  # the app server's state directory (conftest.app_url)
    assert (home / "streamlit.log").exists()
    secret = str(home / "uploads" / "feedc0de.txt")
    monkeypatch.setenv("SCALEPLAN_HOME", str(home))
    store = JobStore()
    job = store.submit("train", {"meta": {"run": "security-probe"}, "corpus": {"source": secret}}, group="sec")
    store.finish(job, "failed", error=f"corpus file {secret} not found; give a .txt or .jsonl file")

    page = page_at("runs")
    page.get_by_role("combobox", name="Job").click()
    page.get_by_role("option", name=f"#{job} security-probe").click()
    wait_for_app(page)
    page.get_by_text("Spec and result").click()
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="corpus file feedc0de.txt not found")
    alert.wait_for(timeout=30_000)  # the run's error, with the file's name
    spec = page.locator('[data-testid="stJson"]')
    spec.get_by_text("feedc0de.txt").first.wait_for(timeout=30_000)  # the spec's corpus, by name
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "feedc0de.txt" in text and str(home) not in text and "/uploads/" not in text
    assert page.locator('[data-testid="stException"]').count() == 0
