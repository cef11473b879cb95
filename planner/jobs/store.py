"""The job store: one SQLite file under `data_dir()` that every page, CLI and worker shares.

SQLite is enough here: a handful of workers write a few rows a second, WAL mode lets readers (the
pages) poll while a worker writes, and `BEGIN IMMEDIATE` makes claiming a job atomic across processes.
Everything a run produces is written as it happens, so a page refresh, a server restart or a dead
worker loses nothing already logged.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from planner.errors import PlannerError
from planner.core.settings import data_dir

Status = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED = ("done", "failed", "cancelled")
HEARTBEAT_S = 3.0  # workers touch their row this often
STALE_AFTER_S = 30.0  # a worker silent this long is dead (the only test possible for another host)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    grp TEXT,
    device TEXT,
    status TEXT NOT NULL DEFAULT 'queued',
    error TEXT,
    result TEXT,
    worker_id INTEGER,
    attempt INTEGER NOT NULL DEFAULT 1,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS metrics (
    job_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics (job_id, step);
CREATE TABLE IF NOT EXISTS workers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot TEXT NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    stopped_at REAL
);
CREATE TABLE IF NOT EXISTS spawns (
    slot TEXT NOT NULL,
    host TEXT NOT NULL,
    at REAL NOT NULL
);
"""
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
    """Submit, claim, log, finish, cancel and retry jobs. Cheap to construct: one connection per call."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers (pages) never block the writing worker
            db.executescript(SCHEMA)
        finally:
            db.close()

    @contextmanager
    def _connect(self, immediate: bool = False):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # ---- users -------------------------------------------------------------------------------
    def submit(self, kind: str, spec: dict, group: str | None = None, device: str | None = None) -> int:
        with self._connect() as db:
            cur = db.execute("INSERT INTO jobs (kind, spec, grp, device, created_at) VALUES (?, ?, ?, ?, ?)",
                             (kind, json.dumps(spec), group, device, time.time()))
            return int(cur.lastrowid)

    def get(self, job_id: int) -> Job:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise PlannerError(f"no job with id {job_id}; `python -m planner jobs` lists them")
        return _job(row)

    def list_jobs(self, group: str | None = None, kind: str | None = None) -> list[Job]:
        self.reap_dead_workers()
        query, args = "SELECT * FROM jobs WHERE 1=1", []
        if group is not None:
            query, args = query + " AND grp = ?", args + [group]
        if kind is not None:
            query, args = query + " AND kind = ?", args + [kind]
        with self._connect() as db:
            return [_job(r) for r in db.execute(query + " ORDER BY id", args)]

    def groups(self) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT grp, MAX(id) AS last FROM jobs WHERE grp IS NOT NULL GROUP BY grp "
                              "ORDER BY last DESC").fetchall()
        return [r["grp"] for r in rows]

    def metrics(self, job_id: int) -> list[dict]:
        """Logged metrics, oldest first. Where a retried run resumed from a checkpoint, its steps replace
        the earlier attempt's steps from the resume point on (those were lost with the worker)."""
        with self._connect() as db:
            rows = db.execute("SELECT attempt, step, time, data FROM metrics WHERE job_id = ? "
                              "ORDER BY attempt, step, rowid", (job_id,)).fetchall()
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
        job = self.get(job_id)
        with self._connect() as db:
            if job.status == "queued":
                db.execute("UPDATE jobs SET status='cancelled', error='cancelled before it started', "
                           "finished_at=? WHERE id=? AND status='queued'", (time.time(), job_id))
            elif job.status == "running":
                db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
        return self.get(job_id)

    def retry(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again; its checkpoint (if any) lets it resume."""
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled"):
            raise PlannerError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
        with self._connect() as db:
            db.execute("UPDATE jobs SET status='queued', error=NULL, worker_id=NULL, cancel_requested=0, "
                       "attempt=attempt+1, started_at=NULL, finished_at=NULL WHERE id=?", (job_id,))
        return self.get(job_id)

    # ---- workers -----------------------------------------------------------------------------
    def register_worker(self, slot: str, shared: bool = False, pid: int | None = None) -> int:
        """Claim a device slot for a worker. Refuses a slot a live worker already holds, so two launches
        never put two jobs on one GPU, unless both workers ask for `shared`."""
        self.reap_dead_workers()
        now = time.time()
        with self._connect(immediate=True) as db:
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
        with self._connect(immediate=True) as db:
            held = db.execute("SELECT 1 FROM workers WHERE slot=? AND host=? AND stopped_at IS NULL",
                              (slot, here)).fetchone()
            pending = db.execute("SELECT 1 FROM spawns WHERE slot=? AND host=? AND at>?",
                                 (slot, here, now - SPAWN_GRACE_S)).fetchone()
            if held or pending:
                return False
            db.execute("INSERT INTO spawns (slot, host, at) VALUES (?, ?, ?)", (slot, here, now))
            return True

    def heartbeat(self, worker_id: int) -> None:
        with self._connect() as db:
            db.execute("UPDATE workers SET heartbeat=? WHERE id=?", (time.time(), worker_id))

    def stop_worker(self, worker_id: int) -> None:
        with self._connect() as db:
            db.execute("UPDATE workers SET stopped_at=? WHERE id=? AND stopped_at IS NULL", (time.time(), worker_id))

    def live_workers(self) -> list[Worker]:
        self.reap_dead_workers()
        with self._connect() as db:
            rows = db.execute("SELECT * FROM workers WHERE stopped_at IS NULL ORDER BY id").fetchall()
        return [Worker(**dict(r)) for r in rows]

    def reap_dead_workers(self) -> list[int]:
        """Mark workers that died (killed, crashed, out of host memory) as stopped and fail their running
        job with the reason. Returns the ids of the failed jobs."""
        here, now, failed = socket.gethostname(), time.time(), []
        with self._connect(immediate=True) as db:
            for w in db.execute("SELECT * FROM workers WHERE stopped_at IS NULL").fetchall():
                if w["host"] == here and _pid_alive(w["pid"]):
                    continue
                if w["host"] != here and now - w["heartbeat"] < STALE_AFTER_S:
                    continue
                reason = (f"worker {w['id']} (pid {w['pid']}, {w['slot']}) died: killed, crashed or out of "
                          "memory; retry to resume from the last checkpoint")
                db.execute("UPDATE workers SET stopped_at=? WHERE id=?", (now, w["id"]))
                for j in db.execute("SELECT id FROM jobs WHERE worker_id=? AND status='running'", (w["id"],)):
                    failed.append(j["id"])
                db.execute("UPDATE jobs SET status='failed', error=?, finished_at=? "
                           "WHERE worker_id=? AND status='running'", (reason, now, w["id"]))
        return failed

    def claim(self, worker_id: int, slot: str) -> Job | None:
        """Atomically take the oldest queued job this slot can run."""
        with self._connect(immediate=True) as db:
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
        with self._connect() as db:
            db.execute("INSERT INTO metrics (job_id, attempt, step, time, data) VALUES (?, ?, ?, ?, ?)",
                       (job_id, attempt, int(step), time.time(), json.dumps(metrics)))
            if "progress" in metrics:
                db.execute("UPDATE jobs SET progress=? WHERE id=?", (float(metrics["progress"]), job_id))

    def cancel_requested(self, job_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def finish(self, job_id: int, status: Status, result: dict | None = None, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET status=?, result=?, error=?, finished_at=?, "
                       "progress=CASE WHEN ?='done' THEN 1.0 ELSE progress END WHERE id=?",
                       (status, json.dumps(result) if result is not None else None, error, time.time(),
                        status, job_id))


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["group"] = d.pop("grp")
    d["spec"] = json.loads(d["spec"])
    d["result"] = json.loads(d["result"]) if d["result"] else None
    return Job(**d)
