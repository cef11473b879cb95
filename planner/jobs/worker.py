"""A worker: one process per device slot that takes queued jobs from the store and runs them.

Start it outside Streamlit: `python -m planner worker --slot cuda:0` (the local runner does this with
CUDA_VISIBLE_DEVICES set, one per GPU). A job's exception marks it failed with the reason; a killed
worker is noticed by whoever reads the store next (`JobStore.reap_dead_workers`), which fails its job.
A worker that cannot write (disk full) keeps the reason and retries recording it in the job row while
its heartbeat says it is alive, so the job is not later called "killed, crashed or out of memory".
"""
from __future__ import annotations

import errno
import os
import re
import signal
import sys
import threading
import time
import traceback

from planner.errors import PlannerError
from planner.jobs import kinds
from planner.jobs.db import disk_full
from planner.jobs.retention import auto_prune, checkpoint_dir_for
from planner.jobs.store import HEARTBEAT_S, Job, JobStore
from planner.core.settings import data_dir

POLL_S = 0.5
RECORD_RETRY_S = 5.0  # a worker that cannot write its job's outcome tries again this often ...
RECORD_PATIENCE_S = 600.0  # ... for this long (someone frees space), then exits with the reason in its log


def pin_slot(slot: str) -> str:
    """Make the slot's GPU the only one this process sees, and return the torch device to use."""
    if slot == "cpu":
        return "cpu"
    if not re.fullmatch(r"cuda(:\d+)?", slot):  # 'cuda:abc' would pin no GPU and wait for jobs forever
        raise PlannerError(f"slot must be 'cpu' or 'cuda:<index>' (got {slot!r})")
    index = slot.partition(":")[2] or "0"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", index)
    return "cuda"


def _describe_write_failure(err: BaseException, folder) -> str | None:
    """Name a failed write (disk full, read-only) with the file (else the job's checkpoint folder), or
    None if it is not one. torch.save reports a full disk as a RuntimeError ("file write failed"), and
    a failed write() names no file, so the free space and the folder the job writes to decide there."""
    code, where = getattr(err, "errno", None), getattr(err, "filename", None)
    where = f" {where}" if where else (f" into {folder}" if folder else "")
    if code == errno.ENOSPC or ("write" in str(err).lower() and disk_full(data_dir())):
        return (f"disk full while writing{where} (state directory {data_dir()}): free "
                "space (`python -m planner jobs prune` deletes old checkpoints), then retry to resume from the "
                f"last checkpoint [{type(err).__name__}: {err}]")
    if code in (errno.EROFS, errno.EACCES):
        return (f"cannot write{where}: the state directory {data_dir()} is read-only; make it writable, then "
                f"retry [{type(err).__name__}: {err}]")
    return None


def describe_failure(err: BaseException, device: str, writes_to=None) -> str:
    """One line a user can act on; out-of-memory, a full disk and a read-only state directory get named
    (`writes_to`: the folder the job writes its checkpoints to)."""
    text = f"{type(err).__name__}: {err}".strip()
    if isinstance(err, PlannerError):
        return str(err)  # already one clear line (e.g. the store's own "disk full: ..." message)
    if isinstance(err, (OSError, RuntimeError)) and (written := _describe_write_failure(err, writes_to)):
        return written
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
        record_outcome(store, job.id, "failed", error=describe_failure(err, device, ctx.checkpoint_dir))
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return "failed"
    status = "cancelled" if store.cancel_requested(job.id) else "done"
    record_outcome(store, job.id, status, result=result, error="cancelled by user" if status == "cancelled" else None)
    return status


def record_outcome(store: JobStore, job_id: int, status: str, result: dict | None = None,
                   error: str | None = None) -> None:
    """Write a job's outcome to its row. Where the store cannot be written (disk full), say so in the
    worker's log and try again every `retry_s` seconds for `patience_s`: the row, not the log, is the
    place of truth, and the live heartbeat meanwhile keeps the job from being called dead."""
    retry_s, deadline = RECORD_RETRY_S, time.time() + RECORD_PATIENCE_S  # read now: tests shorten them
    while True:
        try:
            store.finish(job_id, status, result=result, error=error)
            return
        except PlannerError as err:
            print(f"job {job_id}: cannot record '{status}' ({error or 'no error'}): {err}", file=sys.stderr,
                  flush=True)
            if time.time() + retry_s > deadline:
                raise
            time.sleep(retry_s)


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
    auto_prune(store)  # the retention rule: old checkpoints of failed/cancelled jobs go
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
        try:
            store.stop_worker(worker_id)
        except PlannerError as err:  # the store cannot be written: readers will see the pid gone
            print(f"worker {worker_id}: cannot record its stop: {err}", file=sys.stderr, flush=True)
    return {"worker_id": worker_id, "slot": slot, "pid": os.getpid(), "jobs": ran}
