"""The job store, the worker and the runners, with the dependency-free `sleep` kind."""
import os
import signal
import subprocess
import sys
import time

import pytest

from planner.errors import PlannerError
from planner.jobs import kinds
from planner.jobs.runners import get_runner, retry_job, slots_for
from planner.jobs.store import JobStore, slot_matches
from planner.jobs.worker import run_worker
from tests.conftest import REPO


def wait_until(predicate, timeout_s=60, poll_s=0.2):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False


def start_worker_process(slot="cpu", *extra):
    return subprocess.Popen([sys.executable, "-m", "planner", "worker", "--slot", slot, *extra],
                            cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_submit_get_list_and_cancel_a_queued_job(scaleplan_home):
    store = JobStore()
    a = store.submit("sleep", {"steps": 2}, group="g1", device="cpu")
    b = store.submit("sleep", {"steps": 2}, group="g2")
    assert (scaleplan_home / "jobs.sqlite").exists()
    assert store.get(a).status == "queued" and store.get(a).spec == {"steps": 2}
    assert [j.id for j in store.list_jobs(group="g1")] == [a]
    assert [j.id for j in store.list_jobs()] == [a, b]
    assert store.cancel(b).status == "cancelled"
    assert store.retry(b).status == "queued" and store.get(b).attempt == 2
    with pytest.raises(PlannerError, match="only failed or cancelled"):
        store.retry(a)
    with pytest.raises(PlannerError, match="no job with id"):
        store.get(999)


def test_worker_runs_jobs_and_records_failures_with_their_reason():
    store = JobStore()
    ok = store.submit("sleep", {"steps": 3, "step_s": 0.01})
    bad = store.submit("sleep", {"steps": 3, "step_s": 0.01, "fail_at": 1})
    unknown = store.submit("no-such-kind", {})
    report = run_worker("cpu", max_jobs=3)
    assert report["jobs"] == {ok: "done", bad: "failed", unknown: "failed"}
    assert store.get(ok).result == {"steps": 3, "resumed_from": 0} and store.get(ok).progress == 1.0
    assert [m["value"] for m in store.metrics(ok)] == [1.0, 2.0, 3.0]
    assert "asked to fail at step 1" in store.get(bad).error
    assert len(store.metrics(bad)) == 1  # what was logged before the failure stays
    assert "unknown job kind 'no-such-kind'" in store.get(unknown).error
    assert not store.live_workers()


def test_a_slot_takes_one_worker_unless_both_ask_to_share():
    store = JobStore()
    first = store.register_worker("cuda:0")
    with pytest.raises(PlannerError, match="already has a live worker"):
        store.register_worker("cuda:0")
    store.stop_worker(first)
    store.register_worker("cuda:0", shared=True)
    store.register_worker("cuda:0", shared=True)
    assert len(store.live_workers()) == 2


def test_jobs_go_to_matching_slots_and_are_claimed_once():
    assert slot_matches(None, "cuda:1") and slot_matches("cuda", "cuda:1") and slot_matches("cuda:1", "cuda:1")
    assert not slot_matches("cuda:0", "cuda:1") and not slot_matches("cpu", "cuda:0")
    store = JobStore()
    gpu_job = store.submit("sleep", {}, device="cuda")
    cpu_job = store.submit("sleep", {}, device="cpu")
    w1, w2 = store.register_worker("cpu"), store.register_worker("cuda:0")
    assert store.claim(w1, "cpu").id == cpu_job
    assert store.claim(w1, "cpu") is None
    assert store.claim(w2, "cuda:0").id == gpu_job
    assert store.claim(w2, "cuda:0") is None


def test_cancel_stops_a_running_job():
    store = JobStore()
    job = store.submit("sleep", {"steps": 200, "step_s": 0.05})
    proc = start_worker_process("cpu", "--max-jobs", "1")
    try:
        assert wait_until(lambda: len(store.metrics(job)) >= 2)
        store.cancel(job)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert store.get(job).status == "cancelled"
    assert store.get(job).result["stopped_at"] < 200


def test_killed_worker_fails_its_job_keeps_metrics_and_retry_resumes():
    store = JobStore()
    victim = store.submit("sleep", {"steps": 40, "step_s": 0.1})
    other = store.submit("sleep", {"steps": 3, "step_s": 0.01})
    proc = start_worker_process()
    assert wait_until(lambda: len(store.metrics(victim)) >= 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    store.list_jobs()  # any reader notices the dead worker
    failed = store.get(victim)
    assert failed.status == "failed" and "died" in failed.error and f"pid {proc.pid}" in failed.error
    logged = len(store.metrics(victim))
    assert logged >= 3
    assert store.get(other).status == "queued"  # the other job is untouched and still runs
    store.retry(victim)
    report = run_worker("cpu", max_jobs=2)
    assert report["jobs"] == {victim: "done", other: "done"}
    resumed = store.get(victim)
    assert resumed.result["resumed_from"] >= 3 and resumed.attempt == 2
    steps = [m["step"] for m in store.metrics(victim)]
    assert steps == list(range(1, 41))  # each step once, across both attempts


def test_local_runner_starts_one_detached_worker_per_slot():
    store = JobStore()
    job = store.submit("sleep", {"steps": 2, "step_s": 0.01}, device="cpu")
    runner = get_runner("local", idle_exit_s=2)
    pids = runner.ensure_workers("cpu")
    assert len(pids) == 1
    assert runner.ensure_workers("cpu") == []  # starting or running: the slot is taken
    assert wait_until(lambda: store.get(job).status == "done", timeout_s=90)
    assert [w.pid for w in store.live_workers()] == pids
    assert wait_until(lambda: not store.live_workers(), timeout_s=60)  # idle worker exits by itself


def test_unknown_runner_and_device_are_clear_errors():
    with pytest.raises(PlannerError, match="unknown runner"):
        get_runner("slurm")
    with pytest.raises(PlannerError, match="device must be"):
        slots_for("tpu")
    assert "sleep" in kinds.names()


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # what local_gpu_count reads first: no GPU here


def test_a_cuda_launch_without_a_gpu_writes_nothing(no_gpu):
    """QA: a failed cuda launch left 13 queued jobs that no worker would ever run."""
    from planner.verify import ladder

    design = ladder.design_ladder(ladder.LadderRequest(preset="tiny", device="cuda"))
    with pytest.raises(PlannerError, match="no CUDA GPU"):
        ladder.launch_ladder(design)
    assert JobStore().list_jobs() == [] and ladder.list_ladders() == []


def test_a_retry_that_cannot_run_is_refused_and_changes_nothing(no_gpu):
    store = JobStore()
    job = store.submit("sleep", {"steps": 1}, group="ladder-x", device="cuda")
    store.cancel(job)
    with pytest.raises(PlannerError, match=f"cannot retry job {job} .*no CUDA GPU"):
        retry_job(job, store=store)
    after = store.get(job)
    assert after.status == "cancelled" and after.attempt == 1 and store.live_workers() == []
    with pytest.raises(PlannerError, match="only failed or cancelled"):
        retry_job(store.submit("sleep", {"steps": 1}), store=store)


def test_a_ladder_retry_that_cannot_run_is_refused(no_gpu, monkeypatch):
    from planner.verify import ladder

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # launched on a machine with a GPU ...
    ladder_id = ladder.launch_ladder(ladder.design_ladder(ladder.LadderRequest(preset="tiny", device="cuda")))
    store = JobStore()
    for job in store.list_jobs():
        store.cancel(job.id)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # ... retried on one without
    with pytest.raises(PlannerError, match="no CUDA GPU"):
        ladder.retry_failed(ladder_id)
    assert {j.status for j in store.list_jobs()} == {"cancelled"}


def test_jobs_cli_lists_and_retries(run_cli, no_gpu):
    store = JobStore()
    job = store.submit("sleep", {"steps": 1})
    store.cancel(job)
    out = run_cli("jobs", "--json")
    assert out.returncode == 0, out.stderr
    assert '"status": "cancelled"' in out.stdout
    out = run_cli("jobs", "retry", str(job), "--json")
    assert out.returncode == 0 and '"status": "queued"' in out.stdout
    out = run_cli("jobs", "retry")
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "needs a job id" in out.stderr
    gpu_job = store.submit("sleep", {"steps": 1}, device="cuda")
    store.cancel(gpu_job)
    out = run_cli("jobs", "retry", str(gpu_job))  # this machine has no GPU: refused, left as it was
    assert out.returncode == 2 and "no CUDA GPU" in out.stderr and store.get(gpu_job).status == "cancelled"


@pytest.mark.slow
def test_ray_runner_runs_jobs_on_a_local_ray_instance():
    import ray

    store = JobStore()
    jobs = [store.submit("sleep", {"steps": 2, "step_s": 0.01}) for _ in range(2)]
    runner = get_runner("ray", idle_exit_s=1, num_cpus=1)
    try:
        runner.ensure_workers("cpu")
        runner.ensure_workers("cpu")  # a second launch while the first worker starts adds no task
        assert len(runner.refs) == 1
        results = runner.results(timeout_s=240)
    finally:
        ray.shutdown()
    assert results[0]["jobs"] == {jobs[0]: "done", jobs[1]: "done"}
    assert all(store.get(j).status == "done" for j in jobs)


def test_concurrent_launches_start_one_worker_per_slot():
    store = JobStore()
    assert store.reserve_spawn("cuda:0") is True
    assert store.reserve_spawn("cuda:0") is False  # another launch while the first worker is starting
    assert store.reserve_spawn("cuda:1") is True
    store.register_worker("cuda:0")
    assert store.reserve_spawn("cuda:0") is False  # now a live worker holds it


def test_failure_reasons_name_out_of_memory_and_stops():
    from planner.jobs.worker import describe_failure

    oom = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
    assert describe_failure(oom, "cuda") == "out of memory on cuda: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert describe_failure(MemoryError(), "cpu").startswith("out of host memory")
    assert "retry to resume" in describe_failure(SystemExit(143), "cpu")
    try:
        raise ValueError("bad spec")
    except ValueError as err:
        assert describe_failure(err, "cpu").startswith("ValueError: bad spec (at test_store.py:")


# ---- checkpoint retention ----------------------------------------------------------------------------
def test_retention_keeps_done_and_unfinished_and_drops_old_failed_and_cancelled(scaleplan_home):
    from planner.jobs.retention import DAY_S, KEEP_DAYS, checkpoint_dir_for, prune_checkpoints

    store = JobStore()
    ids = {name: store.submit("sleep", {}) for name in ("done", "failed", "cancelled", "queued")}
    store.finish(ids["done"], "done", result={})
    store.finish(ids["failed"], "failed", error="boom")
    store.cancel(ids["cancelled"])
    for job_id in [*ids.values(), 999]:  # 999: a folder whose job this store does not know
        checkpoint_dir_for(job_id).mkdir(parents=True)
        (checkpoint_dir_for(job_id) / "checkpoint.pt").write_bytes(b"x" * 100)

    fresh = prune_checkpoints(store)  # all finished just now: Retry can still resume every one
    assert fresh.removed == [] and sorted(fresh.kept) == sorted(ids.values()) and fresh.unknown_folders == ["job-999"]
    later = time.time() + (KEEP_DAYS + 1) * DAY_S
    report = prune_checkpoints(store, now=later)
    assert sorted(report.removed) == sorted([ids["failed"], ids["cancelled"]]) and report.freed_bytes == 200
    assert sorted(report.kept) == sorted([ids["done"], ids["queued"]])  # a base/parent checkpoint stays
    assert checkpoint_dir_for(999).exists()  # may belong to a store moved aside as corrupt
    assert prune_checkpoints(store, now=later, include_done=True).removed == [ids["done"]]
    assert checkpoint_dir_for(ids["queued"]).exists()
    with pytest.raises(PlannerError, match="--days must be 0 or more"):
        prune_checkpoints(store, days=-1)


def test_jobs_prune_cli_states_the_rule_and_prunes(run_cli, scaleplan_home):
    from planner.jobs.retention import checkpoint_dir_for

    store = JobStore()
    job = store.submit("sleep", {})
    store.finish(job, "failed", error="boom")
    checkpoint_dir_for(job).mkdir(parents=True)
    out = run_cli("jobs", "--help")
    assert "succeeded (done) jobs keep their checkpoint" in " ".join(out.stdout.split())
    out = run_cli("jobs", "prune", "--json")  # finished just now: kept
    assert out.returncode == 0 and '"removed": []' in out.stdout
    out = run_cli("jobs", "prune", "--days", "0", "--json")
    assert out.returncode == 0 and f'"removed": [\n    {job}\n  ]' in out.stdout and not checkpoint_dir_for(job).exists()


# ---- explicit registries (issue 9) --------------------------------------------------------------------
def test_every_registered_kind_resolves_to_a_function():
    for kind in kinds.KINDS:
        assert callable(kinds.get(kind)), kind
    assert kinds.names() == sorted(kinds.KINDS)


def test_a_kind_module_that_fails_to_import_fails_its_job_with_the_reason(monkeypatch):
    monkeypatch.setitem(kinds.KINDS, "broken", ("planner.no_such_module", "run"))
    store = JobStore()
    job = store.submit("broken", {})
    assert run_worker("cpu", max_jobs=1)["jobs"] == {job: "failed"}
    assert "No module named 'planner.no_such_module'" in store.get(job).error


def test_the_cli_does_not_skip_a_command_module_that_fails_to_import(monkeypatch):
    from planner import cli

    monkeypatch.setattr(cli, "FEATURES", [*cli.FEATURES, "no_such_feature"])
    with pytest.raises(ModuleNotFoundError, match="planner.commands.no_such_feature"):
        cli.build_parser()
