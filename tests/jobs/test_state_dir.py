"""A broken state directory (issue 8): a corrupt store file, a read-only state directory and a full disk.

Each fault gives one clear message naming the file and what to do (CLI: one line, exit 2), reads keep
working where the file is intact, a worker records why it failed, and what was committed before the
fault is all there afterwards (`PRAGMA integrity_check`). The read-only directory and the full disk are
real: a read-only bind mount and a 4 MB tmpfs (the tests run as root, here and on CI).
"""
import errno
import shutil
import sqlite3
import subprocess
import threading

import pytest

from planner.errors import PlannerError
from planner.jobs import worker as worker_mod
from planner.jobs.store import JobStore
from planner.jobs.worker import run_worker


def mount(*args):
    out = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"these tests mount a tmpfs / read-only bind mount as root: {out.stderr}"


def unmount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def committed_store(store: JobStore) -> list[dict]:
    """A few jobs with metrics, as a snapshot to compare after each fault."""
    done = store.submit("sleep", {"steps": 2}, group="ladder-a", device="cpu")
    store.log(done, 1, 1, {"loss": 4.0, "progress": 0.5})
    store.log(done, 1, 2, {"loss": 3.5, "progress": 1.0})
    store.finish(done, "done", result={"final_loss": 3.5})
    failed = store.submit("sleep", {"steps": 2}, group="ladder-a")
    store.finish(failed, "failed", error="out of memory on cuda")
    store.submit("sleep", {"steps": 1})
    return snapshot(store)


def snapshot(store: JobStore) -> list[dict]:
    return [{**j.model_dump(), "metrics": store.metrics(j.id)} for j in store.list_jobs()]


def integrity(path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def one_line_error(out, *needles):
    assert out.returncode == 2, out
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


# ---- reading never writes ---------------------------------------------------------------------------
def test_reading_an_absent_store_creates_nothing(scaleplan_home, run_cli):
    store = JobStore()
    assert store.list_jobs() == [] and store.groups() == [] and store.live_workers() == []
    assert store.metrics(1) == [] and not store.cancel_requested(1)
    with pytest.raises(PlannerError, match="no job with id 1"):
        store.get(1)
    out = run_cli("jobs", "--json")
    assert out.returncode == 0 and '"jobs": []' in out.stdout
    assert not scaleplan_home.exists()  # neither the directory nor an empty store file
    store.submit("sleep", {})  # the first write makes both
    assert (scaleplan_home / "jobs.sqlite").exists()


def test_a_dead_worker_shows_as_failed_on_read_and_is_recorded_by_the_next_write(scaleplan_home):
    store = JobStore()
    job = store.submit("sleep", {})
    dead = subprocess.Popen(["true"])
    dead.wait()
    worker_id = store.register_worker("cpu", pid=dead.pid)
    assert store.claim(worker_id, "cpu").id == job
    before = (scaleplan_home / "jobs.sqlite").stat().st_mtime_ns
    shown = store.get(job)
    assert shown.status == "failed" and "died without recording a reason" in shown.error
    assert store.list_jobs()[0].status == "failed" and store.live_workers() == []
    assert (scaleplan_home / "jobs.sqlite").stat().st_mtime_ns == before  # the read wrote nothing
    assert store.reap_dead_workers() == [job]  # a write records it
    assert store.retry(job).status == "queued"


# ---- a corrupt store ---------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["garbage", "torn page"])
def test_a_corrupt_store_is_one_clear_error_and_is_never_written(scaleplan_home, run_cli, damage):
    store = JobStore()
    committed_store(store)
    path = scaleplan_home / "jobs.sqlite"
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 200)
    else:  # a valid header, then a page of the jobs table overwritten (a torn write / bad sector)
        data = bytearray(path.read_bytes())
        data[4096:4096 + 1000] = b"\xff" * 1000
        path.write_bytes(bytes(data))
    damaged = path.read_bytes()
    for call in (store.list_jobs, lambda: store.get(1), lambda: store.submit("sleep", {}), lambda: store.cancel(1)):
        with pytest.raises(PlannerError, match=f"job store {path} is corrupt.*move it aside.*restore it"):
            call()
    one_line_error(run_cli("jobs"), str(path), "corrupt", "mv ")
    if damage == "garbage":  # the CLI's path is the same for both kinds of damage: check it once
        one_line_error(run_cli("jobs", "cancel", "1"), "corrupt")
        out = run_cli("ladder", "--preset", "micro", "--design-only", "--json")  # designing needs no store
        assert out.returncode == 0 and "assumed" in out.stdout, out.stderr
    assert path.read_bytes() == damaged  # nothing tried to "repair" it: a backup can still be restored


# ---- a read-only state directory ---------------------------------------------------------------------
@pytest.fixture
def read_only_home(scaleplan_home):
    """The state directory with a committed store, then made read-only (a read-only bind mount)."""
    store = JobStore()
    before = committed_store(store)
    mount("--bind", scaleplan_home, scaleplan_home)
    try:
        mount("-o", "remount,ro,bind", scaleplan_home, scaleplan_home)
        yield store, before
    finally:
        unmount(scaleplan_home)


def test_a_read_only_state_dir_lists_and_refuses_writes_with_one_message(read_only_home, scaleplan_home, run_cli):
    store, before = read_only_home
    path = scaleplan_home / "jobs.sqlite"
    assert snapshot(store) == before  # reading works on a read-only directory
    out = run_cli("jobs", "--json")
    assert out.returncode == 0 and out.stdout.count('"id"') == 3, out.stderr
    for call in (lambda: store.submit("sleep", {}), lambda: store.cancel(3), lambda: store.retry(2)):
        with pytest.raises(PlannerError, match=f"job store {path}: the state directory .* read-only.*SCALEPLAN_HOME"):
            call()
    one_line_error(run_cli("jobs", "cancel", "3"), str(path), "read-only")
    one_line_error(run_cli("worker", "--max-jobs", "1"), "read-only")
    one_line_error(run_cli("ladder", "--preset", "micro", "--timeout", "5"), "Read-only file system")
    assert snapshot(store) == before and integrity(path) == "ok"


# ---- a full disk ---------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A 4 MB tmpfs holding the state directory; `fill()` takes every free byte, `free()` gives them back."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", disk)
    home = disk / "home"
    monkeypatch.setenv("SCALEPLAN_HOME", str(home))
    filler = disk / "filler"

    class Disk:
        path = home / "jobs.sqlite"

        @staticmethod
        def fill(leave: int = 0):
            """Take all free space but `leave` bytes."""
            with open(filler, "ab", buffering=0) as f:
                for chunk in (64 * 1024, 512):  # big writes, then the last partial block
                    try:
                        while shutil.disk_usage(disk).free - chunk >= leave:
                            f.write(bytes(chunk))
                    except OSError as err:
                        assert err.errno == errno.ENOSPC

        @staticmethod
        def free():
            filler.unlink()

    try:
        yield Disk
    finally:
        unmount(disk)


def test_a_full_disk_lists_refuses_writes_and_loses_nothing(small_disk, run_cli):
    store = JobStore()
    before = committed_store(store)
    small_disk.fill()
    assert snapshot(store) == before  # reading needs no space
    out = run_cli("jobs", "--json")
    assert out.returncode == 0 and out.stdout.count('"id"') == 3, out.stderr
    big = {"text": "x" * 200_000}  # more than a page: the store must grow
    with pytest.raises(PlannerError, match=f"disk full: cannot write the job store {small_disk.path}.*jobs prune"):
        store.submit("sleep", big)
    assert snapshot(store) == before and integrity(small_disk.path) == "ok"
    small_disk.free()
    assert store.get(store.submit("sleep", big)).spec == big  # works again once there is space
    assert integrity(small_disk.path) == "ok"


def test_a_worker_that_fills_the_disk_records_why_once_it_can(small_disk, monkeypatch):
    """The job's checkpoint write hits ENOSPC; the store cannot take the failure either, so the worker
    retries until space is freed, and the row (not only the log) says "disk full while writing ..."."""
    monkeypatch.setattr(worker_mod, "RECORD_RETRY_S", 0.2)
    store = JobStore()
    store.cancel(committed_store(store)[-1]["id"])  # only the job below is left for the worker
    before = snapshot(store)
    job = store.submit("sleep", {"steps": 50, "step_s": 0.01, "checkpoint_bytes": 2 << 20})
    small_disk.fill(leave=1 << 20)  # room for the worker's own rows; the 2 MB checkpoint does not fit
    freer = threading.Timer(1.5, small_disk.free)
    freer.start()
    try:
        report = run_worker("cpu", max_jobs=1)
    finally:
        freer.join()
    failed = store.get(job)
    assert report["jobs"] == {job: "failed"} and failed.status == "failed"
    assert failed.error.startswith(f"disk full while writing into {worker_mod.checkpoint_dir_for(job)}")
    assert "killed, crashed" not in failed.error and "died" not in failed.error
    assert [j for j in snapshot(store) if j["id"] != job] == before and integrity(small_disk.path) == "ok"


def test_a_checkpoint_write_that_raises_enospc_is_named_disk_full(monkeypatch):
    """The same without a real disk: an injected OSError(ENOSPC) at the checkpoint write."""
    store = JobStore()
    job = store.submit("sleep", {"steps": 3, "step_s": 0.0})
    real_write = type(worker_mod.checkpoint_dir_for(job)).write_text

    def write_text(self, *args, **kwargs):
        if self.name == "step":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(type(worker_mod.checkpoint_dir_for(job)), "write_text", write_text)
    assert run_worker("cpu", max_jobs=1)["jobs"] == {job: "failed"}
    error = store.get(job).error
    assert error.startswith(f"disk full while writing {worker_mod.checkpoint_dir_for(job) / 'step'}")
    assert "jobs prune" in error and "retry" in error


def test_a_worker_gives_up_recording_after_its_patience_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr(worker_mod, "RECORD_RETRY_S", 0.01)
    monkeypatch.setattr(worker_mod, "RECORD_PATIENCE_S", 0.05)
    store = JobStore()
    job = store.submit("sleep", {})

    def full(*args, **kwargs):
        raise PlannerError("disk full: cannot write the job store X")

    monkeypatch.setattr(store, "finish", full)
    with pytest.raises(PlannerError, match="disk full"):
        worker_mod.record_outcome(store, job, "failed", error="disk full while writing Y")
    assert f"job {job}: cannot record 'failed' (disk full while writing Y)" in capsys.readouterr().err


def test_torch_save_failing_on_a_full_disk_is_named_disk_full(small_disk):
    """torch.save reports ENOSPC as a RuntimeError without errno: the free space on the state disk decides."""
    from planner.jobs.worker import describe_failure

    err = RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
                       "data/0: file write failed")
    folder = worker_mod.checkpoint_dir_for(7)
    assert not describe_failure(err, "cpu", folder).startswith("disk full")  # space left: not a full disk
    small_disk.path.parent.mkdir(parents=True)
    small_disk.fill()
    assert describe_failure(err, "cpu", folder).startswith(f"disk full while writing into {folder}")
