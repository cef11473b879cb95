"""Checkpoint retention: which finished jobs keep their checkpoint folder, and for how long.

The rule (README "Security and data safety", `python -m planner jobs --help`):
- queued and running jobs keep their checkpoint (a running job writes it; a queued retry resumes from it);
- succeeded (done) jobs keep their final checkpoint: other runs branch from it (the Verify page's WSD
  ladder resumes from a parent run) or start from it (the Adapt page's base checkpoint). Only
  `jobs prune --include-done` removes those, and only ones finished more than `--days` ago;
- failed and cancelled jobs keep theirs for KEEP_DAYS after they finished, so Retry resumes where they
  stopped; after that every worker start (and `jobs prune`) deletes it, and a later Retry starts over;
- a folder whose job is not in this store is never deleted (it may belong to a store that was moved
  aside as corrupt and can be restored); prune lists such folders.
"""
from __future__ import annotations

import math
import re
import shutil
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from planner.core.settings import data_dir
from planner.errors import PlannerError
from planner.jobs.store import Job, JobStore

KEEP_DAYS = 7.0
DAY_S = 86_400.0
RULE = (f"queued/running jobs and succeeded (done) jobs keep their checkpoint (runs branch from or adapt "
        f"a finished run); failed/cancelled jobs keep theirs {KEEP_DAYS:g} days after they finished (Retry "
        "resumes from it), then a worker start or `jobs prune` deletes it; `jobs prune --include-done` also "
        "deletes succeeded jobs' checkpoints older than --days; folders of jobs not in this store are kept")
_FOLDER = re.compile(r"job-(\d+)")


def checkpoints_root() -> Path:
    return data_dir() / "checkpoints"


def checkpoint_dir_for(job_id: int) -> Path:
    return checkpoints_root() / f"job-{job_id}"


class PruneReport(BaseModel):
    rule: str = Field(description="the retention rule applied, in words")
    removed: list[int] = Field(default_factory=list, description="jobs whose checkpoint folder was deleted")
    freed_bytes: int = 0
    kept: list[int] = Field(default_factory=list, description="jobs whose checkpoint folder is kept")
    unknown_folders: list[str] = Field(default_factory=list,
                                       description="checkpoint folders of jobs not in this store (kept)")


def expired(job: Job, now: float, days: float = KEEP_DAYS, include_done: bool = False) -> bool:
    """True if the rule says this job's checkpoint goes."""
    if not job.finished or job.finished_at is None or now - job.finished_at < days * DAY_S:
        return False
    return job.status in ("failed", "cancelled") or (include_done and job.status == "done")


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prune_checkpoints(store: JobStore | None = None, days: float = KEEP_DAYS, include_done: bool = False,
                      now: float | None = None) -> PruneReport:
    """Apply the retention rule to the state directory's checkpoints/ folder (see the module docstring)."""
    if not 0 <= days < math.inf:  # NaN fails too ("finished more than nan days ago" pruned nothing, silently)
        raise PlannerError(f"--days must be 0 or more, and finite (got {days:g})")
    store, now, root = store or JobStore(), now or time.time(), checkpoints_root()
    rule = (f"delete checkpoints of failed/cancelled{' and done' if include_done else ''} jobs finished more "
            f"than {days:g} days ago; keep the rest")
    report = PruneReport(rule=rule)
    if not root.is_dir():
        return report
    jobs = {j.id: j for j in store.list_jobs()}
    for folder in sorted(root.iterdir()):
        match = _FOLDER.fullmatch(folder.name)
        job = jobs.get(int(match.group(1))) if match else None
        if job is None:
            report.unknown_folders.append(folder.name)
        elif expired(job, now, days, include_done):
            size = _size(folder)
            try:
                shutil.rmtree(folder)
            except OSError as err:
                raise PlannerError(f"cannot delete {folder}: {err.strerror or err}; is the state directory "
                                   "read-only?") from err
            report.removed.append(job.id)
            report.freed_bytes += size
        else:
            report.kept.append(job.id)
    return report


def auto_prune(store: JobStore) -> PruneReport | None:
    """The rule with its defaults, as a worker applies it when it starts; a failure only goes to the log."""
    try:
        return prune_checkpoints(store)
    except (PlannerError, OSError) as err:
        print(f"checkpoint retention skipped: {err}", file=sys.stderr, flush=True)
        return None
