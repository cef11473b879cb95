"""Subcommands for measured runs: ladder (design, run and fit a verification ladder), worker, jobs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from planner.commands import add_gpu_argument
from planner.core import format as fmt
from planner.errors import PlannerError
from planner.jobs import retention
from planner.jobs.runners import get_runner, retry_job
from planner.jobs.store import JobStore
from planner.jobs.worker import run_worker
from planner.train.corpus import CorpusSpec


class WorkerReport(BaseModel):
    worker_id: int
    slot: str
    pid: int
    jobs: dict[int, str]


class JobList(BaseModel):
    jobs: list[dict]


def ladder_command(sub) -> Callable:
    p = sub.add_parser("ladder", help="design, run and fit a verification ladder of small training runs")
    p.add_argument("--preset", default="tiny", help="tiny (CPU, CI), micro (smallest CPU), gpu (one GPU)")
    p.add_argument("--design", default="isoflop", choices=["isoflop", "wsd"],
                   help="isoflop: every run from scratch; wsd: one run per size + cooldown branches (cheaper)")
    p.add_argument("--cooldown-share", type=float, default=None,
                   help="wsd: cooldown length as a share of each horizon (default 0.2, Hägele et al. 2024)")
    p.add_argument("--horizons", default=None,
                   help="wsd: comma-separated branch points in tokens per parameter, e.g. 5,10,20,40,80")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--budgets", default=None, help="comma-separated FLOP budgets, e.g. 1e15,3e15,1e16")
    p.add_argument("--sizes", type=int, default=None, help="model sizes per budget (3-7)")
    p.add_argument("--gpu-hours", type=float, default=None, help="scale the budgets to this much device time")
    add_gpu_argument(p, "for cost, and the assumed throughput before any cuda run was measured")
    p.add_argument("--corpus", default=None, help="a .txt or .jsonl file (default: the Python standard library)")
    p.add_argument("--seed", type=int, default=0, help="model init and data order of every run")
    p.add_argument("--runner", default="local", choices=["local", "ray"])
    p.add_argument("--design-only", action="store_true", help="print the design and its estimate; run nothing")
    p.add_argument("--ladder", default=None, help="show an existing ladder (by id) instead of starting one")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the ladder to finish")

    def handle(args):
        # design and analysis need the trainer's configs, pandas and scipy: only `ladder` pays for them
        from planner.verify import analysis, control, design
        from planner.verify.grid import LadderRequest

        if args.ladder is not None:  # `--ladder ""` is a (bad) id, not "start a new ladder"
            return analysis.analyze_ladder(args.ladder)
        _no_ignored_options(args)
        extra = {"cooldown_share": args.cooldown_share} if args.cooldown_share is not None else {}
        if args.horizons:
            extra["horizons"] = _numbers(args.horizons, "--horizons")
        request = LadderRequest(
            preset=args.preset, design=args.design, device=args.device, seed=args.seed,
            budgets_flops=_numbers(args.budgets, "--budgets"), sizes_per_budget=args.sizes,
            gpu_hours=args.gpu_hours, accelerator=args.gpu,
            corpus=_corpus(args.corpus), **extra)
        plan = design.design_ladder(request)
        if args.design_only:
            return plan
        runner = get_runner(args.runner, idle_exit_s=10)
        ladder_id = control.launch_ladder(plan, runner)  # refuses a device the runner cannot run: no jobs
        print(f"ladder {ladder_id}: {len(plan.runs)} runs, estimated {fmt.duration(plan.est_seconds)}",
              file=sys.stderr)
        runner.ensure_workers(plan.device)
        return control.wait_for_ladder(ladder_id, runner, args.timeout)

    return handle


def _corpus(path: str | None) -> CorpusSpec | None:
    """A corpus named on the command line must exist now, not fail in every run of the ladder later."""
    if path is None:
        return None
    if Path(path).expanduser().is_dir():
        raise PlannerError(f"--corpus: {path!r} is a folder; name one .txt or .jsonl file")
    if not Path(path).expanduser().is_file():
        raise PlannerError(f"--corpus: no such file {path!r} (a .txt or .jsonl file)")
    return CorpusSpec(source=path)


def _no_ignored_options(args) -> None:
    """Options the chosen design would not read are refused, not dropped without a word."""
    if args.budgets and args.gpu_hours is not None:
        raise PlannerError("give --budgets or --gpu-hours (which scales the preset's budgets to that device time), "
                           "not both")
    if args.design != "wsd" and (args.cooldown_share is not None or args.horizons):
        raise PlannerError("--cooldown-share and --horizons shape the cooldown branches of --design wsd; the "
                           "isoflop design trains every run from scratch")


def _numbers(text: str | None, flag: str) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise PlannerError(f"{flag} must be numbers separated by commas (got {text!r})") from None
    if len(set(values)) < len(values):  # --budgets 1e15,1e15 designed every run twice
        raise PlannerError(f"{flag} lists a value twice (got {text!r}); give each once")
    return values


def worker_command(sub) -> Callable:
    p = sub.add_parser("worker", help="run queued jobs on one device slot (start one per GPU)")
    p.add_argument("--slot", default="cpu", help="'cpu' or 'cuda:<index>' (sets CUDA_VISIBLE_DEVICES)")
    p.add_argument("--shared", action="store_true", help="allow another --shared worker on the same slot")
    p.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")
    p.add_argument("--max-jobs", type=int, default=None, help="exit after running this many jobs")

    def handle(args):
        return WorkerReport(**run_worker(args.slot, args.shared, args.idle_exit, args.max_jobs))

    return handle


def jobs_command(sub) -> Callable:
    p = sub.add_parser("jobs", help="list, cancel or retry jobs in the store; prune old checkpoints",
                       epilog="checkpoint retention: " + retention.RULE)
    p.add_argument("action", nargs="?", default="list", choices=["list", "cancel", "retry", "prune"])
    p.add_argument("job_id", nargs="?", type=int, help="job id for cancel / retry")
    p.add_argument("--group", default=None, help="only jobs of this group (a ladder id)")
    p.add_argument("--days", type=float, default=retention.KEEP_DAYS,
                   help="prune: only checkpoints of jobs finished more than this many days ago")
    p.add_argument("--include-done", action="store_true", help="prune: also succeeded jobs' final checkpoints")

    def handle(args):
        store = JobStore()
        if args.action == "prune":
            return retention.prune_checkpoints(store, days=args.days, include_done=args.include_done)
        if args.action != "list":
            if args.job_id is None:
                raise PlannerError(f"`jobs {args.action}` needs a job id; `jobs list` shows them")
            if args.action == "cancel":
                job = store.cancel(args.job_id)
            else:  # checks the device first; workers are started by `ladder`, the pages or `worker`
                job = retry_job(args.job_id, store=store, start_workers=False)
            return JobList(jobs=[_summary(job)])
        return JobList(jobs=[_summary(j) for j in store.list_jobs(group=args.group)])

    return handle


def _summary(job) -> dict:
    keep = ("id", "kind", "group", "device", "status", "progress", "attempt", "error")
    return {k: v for k, v in job.model_dump().items() if k in keep}


COMMANDS = [ladder_command, worker_command, jobs_command]
