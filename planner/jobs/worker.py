"""A worker: one process per device slot that takes queued jobs from the store and runs them.

Start it outside Streamlit: `python -m planner worker --slot cuda:0` (the local runner does this with
CUDA_VISIBLE_DEVICES set, one per GPU). A job's exception marks it failed with the reason; a killed
worker is noticed by whoever reads the store next (`JobStore.reap_dead_workers`), which fails its job.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback

from planner.errors import PlannerError
from planner.jobs import kinds
from planner.jobs.store import HEARTBEAT_S, Job, JobStore
from planner.core.settings import data_dir

POLL_S = 0.5


def checkpoint_dir_for(job_id: int):
    return data_dir() / "checkpoints" / f"job-{job_id}"


def pin_slot(slot: str) -> str:
    """Make the slot's GPU the only one this process sees, and return the torch device to use."""
    if slot == "cpu":
        return "cpu"
    if not slot.startswith("cuda"):
        raise PlannerError(f"slot must be 'cpu' or 'cuda:<index>' (got {slot!r})")
    index = slot.partition(":")[2] or "0"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", index)
    return "cuda"


def describe_failure(err: BaseException, device: str) -> str:
    """One line a user can act on; out-of-memory gets named as such."""
    text = f"{type(err).__name__}: {err}".strip()
    if isinstance(err, MemoryError):
        return f"out of host memory: {text}"
    if "out of memory" in str(err).lower():
        return f"out of memory on {device}: {text.splitlines()[0]}"
    if isinstance(err, (KeyboardInterrupt, SystemExit)):
        return "worker was stopped (SIGTERM/SIGINT) while running; retry to resume from the last checkpoint"
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    return text + (f" (at {os.path.basename(where.filename)}:{where.lineno})" if where else "")


def run_job(store: JobStore, job: Job, device: str) -> str:
    ctx = kinds.JobContext(
        job_id=job.id, device=device, checkpoint_dir=checkpoint_dir_for(job.id), attempt=job.attempt,
        log_fn=lambda step, metrics: store.log(job.id, job.attempt, step, metrics),
        stop_fn=lambda: store.cancel_requested(job.id))
    try:
        result = kinds.get(job.kind)(job.spec, ctx)
    except BaseException as err:  # noqa: BLE001 - every failure must reach the store with its reason
        store.finish(job.id, "failed", error=describe_failure(err, device))
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return "failed"
    status = "cancelled" if store.cancel_requested(job.id) else "done"
    store.finish(job.id, status, result=result, error="cancelled by user" if status == "cancelled" else None)
    return status


def _exit_on_sigterm(signum, frame):
    raise SystemExit(143)  # unwinds through run_job, which marks the running job failed with the reason


def _beat(store: JobStore, worker_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            store.heartbeat(worker_id)
        except Exception:  # noqa: BLE001 - a locked store for a moment must not kill the worker
            pass


def run_worker(slot: str = "cpu", shared: bool = False, idle_exit_s: float | None = None,
               max_jobs: int | None = None) -> dict:
    """Run jobs until idle for `idle_exit_s` seconds (None = forever) or `max_jobs` have run."""
    device = pin_slot(slot)
    store = JobStore()
    worker_id = store.register_worker(slot, shared=shared)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    stop = threading.Event()
    threading.Thread(target=_beat, args=(store, worker_id, stop), daemon=True).start()
    kinds.load_kind_modules()
    ran, idle_since = {}, time.time()
    try:
        while max_jobs is None or len(ran) < max_jobs:
            job = store.claim(worker_id, slot)
            if job is None:
                if idle_exit_s is not None and time.time() - idle_since > idle_exit_s:
                    break
                time.sleep(POLL_S)
                continue
            ran[job.id] = run_job(store, job, device)
            idle_since = time.time()
    finally:
        stop.set()
        store.stop_worker(worker_id)
    return {"worker_id": worker_id, "slot": slot, "pid": os.getpid(), "jobs": ran}
