"""Running a ladder: launch (save the design, queue its runs as jobs), keep workers alive, cancel,
retry and wait. Every action that would queue work first asks the runner whether it can run the device,
so a launch or retry that could never run (cuda on a machine without a GPU) changes nothing."""
from __future__ import annotations

import secrets
import time

from planner.errors import PlannerError
from planner.jobs.runners import get_runner
from planner.jobs.store import JobStore
from planner.verify.analysis import LadderReport, analyze_ladder
from planner.verify.design import LadderDesign, load_design, save_design
from planner.verify.job import KIND, TrainSpec


def launch_ladder(design: LadderDesign, runner=None, store=None) -> str:
    """Queue every run of the design as a "ladder-run" job in one group; returns the ladder id.
    A cooldown branch is queued after its stable parent and names the parent's job id and step."""
    (runner or get_runner("local")).check_device(design.device)
    store = store or JobStore()
    ladder_id = f"ladder-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    save_design(ladder_id, design)
    job_of: dict[str, int] = {}
    for run in design.runs:
        meta = {"ladder": ladder_id, "run": run.name, "role": run.role, "budget_flops": run.budget_flops}
        spec = TrainSpec(model=run.model, train=run.train_config(design.train), corpus=design.corpus, meta=meta,
                         parent_job=job_of[run.parent] if run.parent else None, start_step=run.start_step)
        job_of[run.name] = store.submit(KIND, spec.model_dump(mode="json"), group=ladder_id, device=design.device)
    return ladder_id


def keep_workers(ladder_id: str, runner) -> list[int]:
    """Start workers if the ladder has queued runs and its device has none alive (after a restart,
    or once idle workers have exited). Returns the new workers' pids."""
    jobs = JobStore().list_jobs(group=ladder_id)
    if not any(j.status == "queued" for j in jobs):
        return []
    return runner.ensure_workers(load_design(ladder_id).device)


def cancel_ladder(ladder_id: str) -> int:
    store = JobStore()
    active = [j for j in store.list_jobs(group=ladder_id) if not j.finished]
    for job in active:
        store.cancel(job.id)
    return len(active)


def retry_failed(ladder_id: str, runner=None) -> int:
    """Queue the ladder's failed and cancelled runs again (each resumes from its checkpoint), once the
    runner (default: local) has confirmed it can run the ladder's device; otherwise nothing changes."""
    (runner or get_runner("local")).check_device(load_design(ladder_id).device)
    store = JobStore()
    again = [j for j in store.list_jobs(group=ladder_id) if j.status in ("failed", "cancelled")]
    for job in again:
        store.retry(job.id)
    return len(again)


def wait_for_ladder(ladder_id: str, runner, timeout_s: float, on_progress=None, poll_s: float = 1.0) -> LadderReport:
    """Poll until every run has finished, restarting workers that died (their run stays failed)."""
    store, deadline, last_ensure = JobStore(), time.time() + timeout_s, 0.0
    while time.time() < deadline:
        jobs = store.list_jobs(group=ladder_id)
        if all(j.finished for j in jobs):
            return analyze_ladder(ladder_id, store)
        if time.time() - last_ensure > 5:
            keep_workers(ladder_id, runner)
            last_ensure = time.time()
        if on_progress:
            on_progress(jobs)
        time.sleep(poll_s)
    raise PlannerError(f"ladder {ladder_id} did not finish within {timeout_s:.0f} s; it keeps running in the "
                       f"background: `python -m planner ladder --ladder {ladder_id}` shows where it stands")
