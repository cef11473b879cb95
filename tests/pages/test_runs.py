"""The Runs page (AppTest): history from the store, filters, a failed run's reason, retry."""
import os
import signal
import time

from streamlit.testing.v1 import AppTest

from planner.jobs.store import JobStore
from tests.conftest import REPO


def page() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "runs.py"), default_timeout=60)


def test_empty_store_says_where_runs_come_from():
    at = page().run()
    assert not at.exception and "No runs yet" in at.info[0].value


def test_a_job_this_version_cannot_read_shows_dashes_not_a_traceback():
    store = JobStore()
    job = store.submit("sleep", {"meta": "not a dict"})
    store.finish(job, "done", result={"final_loss": "lots", "tokens_per_s": "x"})
    at = page().run()
    assert not at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["job"] == job and row["final loss"] == row["tokens/s"] == "—"
    assert {m.label: m.value for m in at.metric}["Final loss"] == "—"

def test_history_filters_and_retry_of_a_failed_run():
    store = JobStore()
    ok = store.submit("sleep", {"steps": 2}, group="ladder-a")
    bad = store.submit("sleep", {"steps": 2}, group="ladder-b")
    store.finish(ok, "done", result={"final_loss": 3.25})
    store.finish(bad, "failed", error="out of memory on cuda: CUDA out of memory")
    store.log(ok, 1, 1, {"loss": 4.0, "tokens": 100})
    store.log(ok, 1, 2, {"loss": 3.5, "tokens": 200, "eval_loss": 3.6})

    at = page().run()
    assert not at.exception
    assert sorted(at.dataframe[0].value["job"]) == [ok, bad]
    at.multiselect[1].select("failed").run()
    assert list(at.dataframe[0].value["job"]) == [bad]
    assert "out of memory" in at.error[0].value  # the selected (failed) run shows its reason
    row = at.dataframe[0].value.iloc[0]
    assert row["final loss"] == row["tokens/s"] == "—"  # not known: a dash, not "None"
    try:
        at.button[1].click().run()  # Retry: re-queues and starts a worker to run it
        assert store.get(bad).status in ("queued", "running", "done") and store.get(bad).attempt == 2
        deadline = time.time() + 60  # the worker Retry started runs it (then we stop that worker)
        while not store.get(bad).finished and time.time() < deadline:
            time.sleep(0.2)
        assert store.get(bad).status == "done"
    finally:
        for worker in store.live_workers():
            os.kill(worker.pid, signal.SIGTERM)

    at = page().run()
    at.selectbox[0].select(ok).run()
    assert {m.label: m.value for m in at.metric}["Final loss"] == "3.2500"
    assert len(at.get("plotly_chart")) == 1  # its loss curve


def test_a_retry_that_cannot_run_is_refused_and_the_page_shows_the_store(monkeypatch):
    """QA: Retry on a cuda job without a GPU re-queued it, showed "no CUDA GPU", and still said "cancelled"."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU here
    store = JobStore()
    job = store.submit("train", {"meta": {"run": "C1e15-a"}}, group="ladder-g", device="cuda")
    store.cancel(job)
    at = page().run()
    at.button[1].click().run()  # Retry
    assert not at.exception and "no CUDA GPU" in at.error[-1].value and f"cannot retry job {job}" in at.error[-1].value
    assert store.get(job).status == "cancelled" and store.get(job).attempt == 1 and store.live_workers() == []
    assert {m.label: m.value for m in at.metric}["Status"] == "cancelled"
