"""`python -m planner ladder`: a complete tiny ladder on CPU, with a worker killed in the middle."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from planner.jobs.runners import get_runner
from planner.jobs.store import JobStore
from planner.jobs.retention import checkpoint_dir_for
from tests.conftest import REPO


def test_design_only_prints_the_plan_and_its_estimate(run_cli):
    out = run_cli("ladder", "--preset", "tiny", "--design-only", "--json")
    assert out.returncode == 0, out.stderr
    design = json.loads(out.stdout)
    assert len(design["runs"]) >= 10 and design["est_seconds"] > 0 and design["device"] == "cpu"
    assert {r["role"] for r in design["runs"]} == {"isoflop", "holdout"}


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "unknown ladder preset"),
    (["--budgets", "1e10,abc"], "--budgets must be numbers"),
    (["--device", "cuda"], "no CUDA GPU"),
    (["--ladder", "ladder-nope"], "no ladder 'ladder-nope'"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, args, message, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU, even on a machine that has one
    out = run_cli("ladder", *args, "--json")
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert JobStore().list_jobs() == []  # refused before anything was queued (a cuda launch used to leave 13)


@pytest.mark.parametrize("args, message", [
    (["--gpu-hours", "0.0001"], "give at least"),
    (["--gpu-hours", "1e6"], "at most 1000 hours"),
    (["--device", "cuda", "--accelerator", "xyz"], "unknown accelerator"),
])
def test_bad_budgets_and_accelerators_are_refused_at_design(run_cli, args, message):
    out = run_cli("ladder", *args, "--design-only")
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def _wait(predicate, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_tiny_ladder_survives_a_killed_worker_and_the_killed_run_resumes(run_cli):
    ladder = subprocess.Popen([sys.executable, "-m", "planner", "ladder", "--device", "cpu", "--preset", "tiny",
                               "--json"], cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    store = JobStore()

    def running_with_checkpoint():  # far enough in to have logged and saved a checkpoint, far from its end
        for job in store.list_jobs():
            logged = store.metrics(job.id) if job.status == "running" else []
            # a run close to its end may finish before the kill lands: pick one with most of its steps left
            if logged and logged[-1].get("progress", 1.0) < 0.6 \
                    and (checkpoint_dir_for(job.id) / "checkpoint.pt").exists():
                return job
        return None

    victim = _wait(running_with_checkpoint, 240)
    worker = next(w for w in store.live_workers() if w.id == store.get(victim.id).worker_id)
    os.kill(worker.pid, signal.SIGKILL)
    out, err = ladder.communicate(timeout=400)
    assert ladder.returncode == 0, err
    report = json.loads(out)

    # the CLI contract: runs with params, tokens, flops, final_loss, status; and the fitted exponents
    runs = {r["job_id"]: r for r in report["runs"]}
    assert report["finished"] and len(runs) >= 10
    for r in runs.values():
        assert {"params", "tokens", "flops", "final_loss", "status"} <= set(r)
    failed = runs[victim.id]
    assert failed["status"] == "failed" and "died" in failed["error"] and f"pid {worker.pid}" in failed["error"]
    assert all(r["status"] == "done" and r["final_loss"] > 0 for i, r in runs.items() if i != victim.id)
    assert 0 < report["fit"]["a"] < 1 and report["fit"]["b"] == pytest.approx(1 - report["fit"]["a"])
    logged_before = store.metrics(victim.id)
    assert logged_before  # nothing already logged is lost

    # retry: the run continues from its checkpoint, not from step 0
    assert run_cli("jobs", "retry", victim.id, "--json").returncode == 0
    get_runner("local", idle_exit_s=5).ensure_workers("cpu")  # none if the ladder's worker is still idling
    resumed = _wait(lambda: store.get(victim.id).finished and store.get(victim.id), 120)
    assert resumed.status == "done" and resumed.result["resumed_from_step"] > 0

    # a fresh process (as after a server restart) sees every run as it is: now all done, with a fit
    shown = run_cli("ladder", "--ladder", report["ladder_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    final = json.loads(shown.stdout)
    assert [r["status"] for r in final["runs"]] == ["done"] * len(runs)
    assert final["holdout"]["measured_loss"] > 0 and final["holdout"]["predicted_loss"]


def test_wsd_design_only_is_cheaper_on_the_same_grid(run_cli):
    iso = json.loads(run_cli("ladder", "--preset", "tiny", "--design-only", "--json").stdout)
    out = run_cli("ladder", "--preset", "tiny", "--design", "wsd", "--cooldown-share", "0.1", "--design-only", "--json")
    assert out.returncode == 0, out.stderr
    wsd = json.loads(out.stdout)
    assert wsd["design"] == "wsd" and {r["role"] for r in wsd["runs"]} == {"stable", "cooldown", "holdout"}
    assert wsd["est_seconds"] < iso["est_seconds"]
    held, scratch = wsd["runs"][-1], iso["runs"][-1]  # one held-out point: a branch vs a run from scratch
    assert held["role"] == scratch["role"] == "holdout"
    assert (held["params"], held["tokens"]) == (scratch["params"], scratch["tokens"])
    assert held["parent"].startswith("stable-") and held["start_step"] > 0 and scratch["parent"] is None
    bad = run_cli("ladder", "--design", "wsd", "--cooldown-share", "1.5", "--design-only")
    assert bad.returncode == 2 and "cooldown_share" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_a_micro_wsd_ladder_runs_its_branches_through_the_job_system(run_cli):
    out = run_cli("ladder", "--preset", "micro", "--design", "wsd", "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["finished"] and all(r["status"] == "done" for r in report["runs"])
    store = JobStore()
    jobs = {j.spec["meta"]["run"]: j for j in store.list_jobs()}
    for r in report["runs"]:
        job = jobs[r["name"]]
        assert job.kind == "ladder-run"
        if r["role"] in ("cooldown", "holdout"):  # a branch resumed from its parent's stable checkpoint
            parent = store.get(job.spec["parent_job"])
            assert parent.spec["meta"]["run"] == r["parent"] and job.result["first_step"] == job.spec["start_step"] > 0
            assert job.result["seconds"] < parent.result["seconds"] + 5
    assert report["fit"]["method"] == "approach3" and report["holdout"]["predicted_loss"]["approach3"] > 0
