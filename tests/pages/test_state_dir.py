"""Pages over a broken state directory (AppTest): Runs, Verify and Adapt show one st.error naming the
store file and what to do, and the rest of each page still works. (The store-level faults, the CLI and
the worker are in test_state_dir.py; the browser check is tests/e2e/test_runs.py.)"""
from streamlit.testing.v1 import AppTest

from planner.jobs.store import JobStore
from tests.conftest import REPO
from tests.jobs.test_state_dir import committed_store, integrity, mount, small_disk, snapshot, unmount  # noqa: F401


def page(name: str) -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=60)


def corrupt(home):
    path = home / "jobs.sqlite"
    path.write_bytes(b"this is not a database" * 200)
    return path


def errors(at) -> str:
    return " | ".join(e.value for e in at.error)


def test_runs_page_names_a_corrupt_store_and_what_to_do(scaleplan_home):
    committed_store(JobStore())
    path = corrupt(scaleplan_home)
    at = page("runs").run()
    assert not at.exception
    assert "job store jobs.sqlite is corrupt" in errors(at) and "move it aside" in errors(at)
    assert str(path.parent) not in errors(at)  # the Runs page shows file names, not the server's paths
    assert at.title[0].value == "Runs"


def test_runs_page_lists_a_read_only_store_and_refuses_cancel_with_the_reason(scaleplan_home):
    store = JobStore()
    before = committed_store(store)
    queued = before[-1]["id"]
    mount("--bind", scaleplan_home, scaleplan_home)
    try:
        mount("-o", "remount,ro,bind", scaleplan_home, scaleplan_home)
        at = page("runs").run()
        assert not at.exception and sorted(at.dataframe[0].value["job"]) == [j["id"] for j in before]
        at.selectbox[0].select(queued).run()
        at.button[0].click().run()  # Cancel
        assert not at.exception and "read-only" in errors(at)
        assert {m.label: m.value for m in at.metric}["Status"] == "queued"  # the store's state, unchanged
        assert snapshot(store) == before
    finally:
        unmount(scaleplan_home)
    assert integrity(scaleplan_home / "jobs.sqlite") == "ok"


def test_runs_page_lists_on_a_full_disk_and_refuses_cancel_with_the_reason(small_disk):
    store = JobStore()
    before = committed_store(store)
    small_disk.fill()
    at = page("runs").run()
    assert not at.exception and sorted(at.dataframe[0].value["job"]) == [j["id"] for j in before]
    at.selectbox[0].select(before[-1]["id"]).run()
    at.button[0].click().run()  # Cancel: a write, and the disk is full
    assert not at.exception and "disk full: cannot write the job store jobs.sqlite" in errors(at)
    assert snapshot(store) == before and integrity(small_disk.path) == "ok"


def test_verify_page_keeps_its_design_when_the_store_is_corrupt(scaleplan_home):
    from planner.verify import ladder

    ladder.launch_ladder(ladder.design_ladder(ladder.LadderRequest(preset="tiny")))  # a ladder to watch
    path = corrupt(scaleplan_home)
    at = page("verify").run()
    assert not at.exception
    assert f"job store {path.name} is corrupt" in errors(at) and str(path) not in errors(at)  # no server paths
    assert len(at.dataframe) >= 1 and at.metric  # the design (runs, time) still shows


def test_adapt_page_keeps_its_estimates_when_the_store_is_corrupt(scaleplan_home):
    committed_store(JobStore())
    path = corrupt(scaleplan_home)
    at = page("adapt").run()
    assert not at.exception
    assert f"job store {path.name} is corrupt" in errors(at) and str(path) not in errors(at)
    assert "cheapest method that fits" in at.success[0].value and len(at.dataframe) >= 1
