"""Subcommands for measured runs: ladder (design, run and fit a verification ladder), worker, jobs."""
from __future__ import annotations

from typing import Callable

from pydantic import BaseModel


class WorkerReport(BaseModel):
    worker_id: int
    slot: str
    pid: int
    jobs: dict[int, str]


class JobList(BaseModel):
    jobs: list[dict]


def worker_command(sub) -> Callable:
    p = sub.add_parser("worker", help="run queued jobs on one device slot (start one per GPU)")
    p.add_argument("--slot", default="cpu", help="'cpu' or 'cuda:<index>' (sets CUDA_VISIBLE_DEVICES)")
    p.add_argument("--shared", action="store_true", help="allow another --shared worker on the same slot")
    p.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")
    p.add_argument("--max-jobs", type=int, default=None, help="exit after running this many jobs")

    def handle(args):
        from planner.jobs.worker import run_worker

        return WorkerReport(**run_worker(args.slot, args.shared, args.idle_exit, args.max_jobs))

    return handle


def jobs_command(sub) -> Callable:
    p = sub.add_parser("jobs", help="list, cancel or retry jobs in the store")
    p.add_argument("action", nargs="?", default="list", choices=["list", "cancel", "retry"])
    p.add_argument("job_id", nargs="?", type=int, help="job id for cancel / retry")
    p.add_argument("--group", default=None, help="only jobs of this group (a ladder id)")

    def handle(args):
        from planner.errors import PlannerError
        from planner.jobs.store import JobStore

        store = JobStore()
        if args.action != "list":
            if args.job_id is None:
                raise PlannerError(f"`jobs {args.action}` needs a job id; `jobs list` shows them")
            job = store.cancel(args.job_id) if args.action == "cancel" else store.retry(args.job_id)
            return JobList(jobs=[_summary(job)])
        return JobList(jobs=[_summary(j) for j in store.list_jobs(group=args.group)])

    return handle


def _summary(job) -> dict:
    keep = ("id", "kind", "group", "device", "status", "progress", "attempt", "error")
    return {k: v for k, v in job.model_dump().items() if k in keep}


COMMANDS = [worker_command, jobs_command]
