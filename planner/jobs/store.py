"""The job store: one SQLite file under `data_dir()` that every page, CLI and worker shares.

SQLite is enough here: a handful of workers write a few rows a second, WAL mode lets readers (the
pages) poll while a worker writes, and `BEGIN IMMEDIATE` makes claiming a job atomic across processes.
Everything a run produces is written as it happens, so a page refresh, a server restart or a dead
worker loses nothing already logged. Reads never write (see `planner.jobs.db`): a worker that died is
shown as failed by every read at once, and recorded as failed by the next write (`reap_dead_workers`).
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from planner.core.settings import data_dir
from planner.errors import PlannerError
from planner.jobs.db import ensure_schema, read_connection, write_connection

Status = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED = ("done", "failed", "cancelled")
HEARTBEAT_S = 3.0  # workers touch their row this often
STALE_AFTER_S = 30.0  # a worker silent this long is dead (the only test possible for another host)

SPAWN_GRACE_S = 30.0  # a worker being started holds its slot this long while Python and torch import


class Job(BaseModel):
    """One unit of work (a training run, an adaptation run) and where it stands."""

    id: int
    kind: str
    spec: dict
    group: str | None = None
    device: str | None = Field(default=None, description="'cpu', 'cuda', a slot like 'cuda:1', or None = any")
    status: Status
    error: str | None = None
    result: dict | None = None
    worker_id: int | None = None
    attempt: int = 1
    cancel_requested: bool = False
    progress: float = 0.0
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class Worker(BaseModel):
    id: int
    slot: str
    shared: bool
    host: str
    pid: int
    started_at: float
    heartbeat: float
    stopped_at: float | None = None


def default_path() -> Path:
    return data_dir() / "jobs.sqlite"


def _pid_alive(pid: int) -> bool:
    """True if a process with this pid runs here and is not a zombie (a killed child nobody reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def slot_matches(job_device: str | None, slot: str) -> bool:
    """A job asking for 'cuda' runs on any cuda slot; one asking for 'cuda:1' only on that slot."""
    if job_device is None:
        return True
    return job_device == slot or job_device == slot.split(":")[0]


class JobStore:
    """Submit, claim, log, finish, cancel and retry jobs. Cheap to construct (touches nothing on disk):
    one connection per call, read-only for reads; the file and its schema are made by the first write.
    Every fault of the file (corrupt, read-only, full, locked) is a PlannerError naming it."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self._schema_ready = False

    def _write(self, immediate: bool = False):
        if not self._schema_ready:
            ensure_schema(self.path)
            self._schema_ready = True
        return write_connection(self.path, immediate)

    def _read(self):
        """A read-only transaction; yields None when the store has no file or tables yet."""
        return read_connection(self.path)

    # ---- users -------------------------------------------------------------------------------
    def submit(self, kind: str, spec: dict, group: str | None = None, device: str | None = None) -> int:
        with self._write() as db:
            cur = db.execute("INSERT INTO jobs (kind, spec, grp, device, created_at) VALUES (?, ?, ?, ?, ?)",
                             (kind, json.dumps(spec), group, device, time.time()))
            return int(cur.lastrowid)

    def get(self, job_id: int) -> Job:
        with self._read() as db:
            row = db and db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            dead = _dead_workers(db) if row else {}
        if not row:
            raise PlannerError(f"no job with id {job_id}; `python -m planner jobs` lists them")
        return _job(row, dead)

    def list_jobs(self, group: str | None = None, kind: str | None = None) -> list[Job]:
        query, args = "SELECT * FROM jobs WHERE 1=1", []
        if group is not None:
            query, args = query + " AND grp = ?", args + [group]
        if kind is not None:
            query, args = query + " AND kind = ?", args + [kind]
        with self._read() as db:
            if db is None:
                return []
            dead = _dead_workers(db)
            return [_job(r, dead) for r in db.execute(query + " ORDER BY id", args)]

    def groups(self) -> list[str]:
        with self._read() as db:
            rows = db.execute("SELECT grp, MAX(id) AS last FROM jobs WHERE grp IS NOT NULL GROUP BY grp "
                              "ORDER BY last DESC").fetchall() if db else []
        return [r["grp"] for r in rows]

    def metrics(self, job_id: int) -> list[dict]:
        """Logged metrics, oldest first. Where a retried run resumed from a checkpoint, its steps replace
        the earlier attempt's steps from the resume point on (those were lost with the worker)."""
        with self._read() as db:
            rows = db.execute("SELECT attempt, step, time, data FROM metrics WHERE job_id = ? "
                              "ORDER BY attempt, step, rowid", (job_id,)).fetchall() if db else []
        first_step_of = {}
        for r in rows:
            first_step_of.setdefault(r["attempt"], r["step"])
        out = []
        for r in rows:
            later = [s for a, s in first_step_of.items() if a > r["attempt"]]
            if later and r["step"] >= min(later):
                continue
            out.append({"step": r["step"], "time": r["time"], "attempt": r["attempt"], **json.loads(r["data"])})
        return out

    def cancel(self, job_id: int) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop at its next step."""
        self.get(job_id)  # a clear error for an unknown id, before anything is written
        self.reap_dead_workers()
        with self._write() as db:
            db.execute("UPDATE jobs SET status='cancelled', error='cancelled before it started', "
                       "finished_at=? WHERE id=? AND status='queued'", (time.time(), job_id))
            db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=? AND status='running'", (job_id,))
        return self.get(job_id)

    def retry(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again; its checkpoint (if any) lets it resume."""
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled"):
            raise PlannerError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
        self.reap_dead_workers()  # a job shown failed because its worker died is recorded so first
        with self._write() as db:
            db.execute("UPDATE jobs SET status='queued', error=NULL, worker_id=NULL, cancel_requested=0, "
                       "attempt=attempt+1, started_at=NULL, finished_at=NULL WHERE id=?", (job_id,))
        return self.get(job_id)

    # ---- workers -----------------------------------------------------------------------------
    def register_worker(self, slot: str, shared: bool = False, pid: int | None = None) -> int:
        """Claim a device slot for a worker. Refuses a slot a live worker already holds, so two launches
        never put two jobs on one GPU, unless both workers ask for `shared`."""
        self.reap_dead_workers()
        now = time.time()
        with self._write(immediate=True) as db:
            holders = db.execute("SELECT * FROM workers WHERE slot=? AND host=? AND stopped_at IS NULL",
                                 (slot, socket.gethostname())).fetchall()
            if holders and not (shared and all(h["shared"] for h in holders)):
                raise PlannerError(f"device slot {slot} already has a live worker (pid {holders[0]['pid']}); "
                                   "stop it first, or pass --shared to both to share the slot")
            cur = db.execute("INSERT INTO workers (slot, shared, host, pid, started_at, heartbeat) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (slot, int(shared), socket.gethostname(), pid or os.getpid(), now, now))
            db.execute("DELETE FROM spawns WHERE slot=? AND host=?", (slot, socket.gethostname()))
            return int(cur.lastrowid)

    def reserve_spawn(self, slot: str) -> bool:
        """Atomically decide to start a worker for a slot: False if a live worker holds it, or another
        process started one in the last SPAWN_GRACE_S seconds that has not registered yet."""
        self.reap_dead_workers()
        here, now = socket.gethostname(), time.time()
        with self._write(immediate=True) as db:
            held = db.execute("SELECT 1 FROM workers WHERE slot=? AND host=? AND stopped_at IS NULL",
                              (slot, here)).fetchone()
            pending = db.execute("SELECT 1 FROM spawns WHERE slot=? AND host=? AND at>?",
                                 (slot, here, now - SPAWN_GRACE_S)).fetchone()
            if held or pending:
                return False
            db.execute("INSERT INTO spawns (slot, host, at) VALUES (?, ?, ?)", (slot, here, now))
            return True

    def heartbeat(self, worker_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE workers SET heartbeat=? WHERE id=?", (time.time(), worker_id))

    def stop_worker(self, worker_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE workers SET stopped_at=? WHERE id=? AND stopped_at IS NULL", (time.time(), worker_id))

    def live_workers(self) -> list[Worker]:
        with self._read() as db:
            if db is None:
                return []
            dead = _dead_workers(db)
            rows = db.execute("SELECT * FROM workers WHERE stopped_at IS NULL ORDER BY id").fetchall()
        return [Worker(**dict(r)) for r in rows if r["id"] not in dead]

    def reap_dead_workers(self) -> list[int]:
        """Record workers that died as stopped and fail their running job with the reason (a write: the
        reads already show those jobs as failed). Returns the ids of the failed jobs."""
        now, failed = time.time(), []
        with self._write(immediate=True) as db:
            for worker_id, reason in _dead_workers(db).items():
                db.execute("UPDATE workers SET stopped_at=? WHERE id=?", (now, worker_id))
                for j in db.execute("SELECT id FROM jobs WHERE worker_id=? AND status='running'", (worker_id,)):
                    failed.append(j["id"])
                db.execute("UPDATE jobs SET status='failed', error=?, finished_at=? "
                           "WHERE worker_id=? AND status='running'", (reason, now, worker_id))
        return failed

    def claim(self, worker_id: int, slot: str) -> Job | None:
        """Atomically take the oldest queued job this slot can run."""
        with self._write(immediate=True) as db:
            for row in db.execute("SELECT id, device FROM jobs WHERE status='queued' ORDER BY id").fetchall():
                if slot_matches(row["device"], slot):
                    db.execute("UPDATE jobs SET status='running', worker_id=?, started_at=? WHERE id=?",
                               (worker_id, time.time(), row["id"]))
                    break
            else:
                return None
        return self.get(row["id"])

    # ---- a running job ----------------------------------------------------------------------
    def log(self, job_id: int, attempt: int, step: int, metrics: dict) -> None:
        with self._write() as db:
            db.execute("INSERT INTO metrics (job_id, attempt, step, time, data) VALUES (?, ?, ?, ?, ?)",
                       (job_id, attempt, int(step), time.time(), json.dumps(metrics)))
            if "progress" in metrics:
                db.execute("UPDATE jobs SET progress=? WHERE id=?", (float(metrics["progress"]), job_id))

    def cancel_requested(self, job_id: int) -> bool:
        with self._read() as db:
            row = db and db.execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def finish(self, job_id: int, status: Status, result: dict | None = None, error: str | None = None) -> None:
        with self._write() as db:
            db.execute("UPDATE jobs SET status=?, result=?, error=?, finished_at=?, "
                       "progress=CASE WHEN ?='done' THEN 1.0 ELSE progress END WHERE id=?",
                       (status, json.dumps(result) if result is not None else None, error, time.time(),
                        status, job_id))


def _dead_workers(db: sqlite3.Connection | None) -> dict[int, str]:
    """Workers the store still calls live that are gone (killed, crashed, out of host memory), with the
    reason their running job failed. Read-only: a page or `jobs list` shows it, the next write records it."""
    if db is None:
        return {}
    here, now, dead = socket.gethostname(), time.time(), {}
    for w in db.execute("SELECT * FROM workers WHERE stopped_at IS NULL").fetchall():
        if w["host"] == here and _pid_alive(w["pid"]):
            continue
        if w["host"] != here and now - w["heartbeat"] < STALE_AFTER_S:
            continue
        dead[w["id"]] = (f"worker {w['id']} (pid {w['pid']}, {w['slot']}) died without recording a reason "
                         "(killed, crashed or out of memory; see its log in logs/ of the state directory); "
                         "retry to resume from the last checkpoint")
    return dead


def _job(row: sqlite3.Row, dead: dict[int, str]) -> Job:
    d = dict(row)
    d["group"] = d.pop("grp")
    d["spec"] = json.loads(d["spec"])
    d["result"] = json.loads(d["result"]) if d["result"] else None
    if d["status"] == "running" and d["worker_id"] in dead:  # shown as the next write will record it
        d.update(status="failed", error=dead[d["worker_id"]], finished_at=time.time())
    return Job(**d)
