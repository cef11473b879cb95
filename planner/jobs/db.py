"""The job store's SQLite connections, and the one place where its faults become a PlannerError.

Reads open the file read-only (`mode=ro`) and never create, migrate or write anything, so listing
jobs works on a full disk or a read-only state directory. Writes create the directory and the schema
on first use. Every sqlite3 or OS error from either is turned into one message that names the file
and says what to do (corrupt, read-only, full, busy), so no caller has to catch sqlite3 errors.
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from planner.errors import PlannerError

BUSY_TIMEOUT_MS = 30_000

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

# What SQLite says (its message text is the only portable part of sqlite3 errors on Python 3.11).
_CORRUPT = ("not a database", "malformed", "corrupt")
_READ_ONLY = ("readonly database", "read-only", "unable to open database file")
_FULL = ("disk is full", "database or disk is full")
_BUSY = ("locked", "busy")


FULL_BELOW_BYTES = 1 << 20  # a failed write with less free space than this on the disk is "disk full"


def disk_full(path: Path) -> bool:
    """True if the disk holding `path` (or its nearest existing parent) has almost no space left.
    SQLite reports some full-disk failures as "disk I/O error" (e.g. its WAL index on tmpfs)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free < FULL_BELOW_BYTES
    except OSError:
        return False


def store_error(path: Path, err: BaseException, writing: bool) -> PlannerError:
    """The one-line message for a fault of the store file at `path`."""
    text, code = str(err).lower(), getattr(err, "errno", None)
    folder = path.parent
    full = code == errno.ENOSPC or any(s in text for s in _FULL)
    if full or (writing and "i/o error" in text and disk_full(path)):
        return PlannerError(f"disk full: cannot write the job store {path}; free space on the disk that holds "
                            f"{folder} (`python -m planner jobs prune` deletes old checkpoints), then retry")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(s in text for s in _READ_ONLY):
        verb = "write" if writing else "open"
        return PlannerError(f"cannot {verb} the job store {path}: the state directory {folder} is read-only or "
                            "not accessible; make it writable, or set SCALEPLAN_HOME to a writable directory")
    if any(s in text for s in _CORRUPT):
        return PlannerError(f"the job store {path} is corrupt ({err}); move it aside (`mv {path} {path}.bad`) "
                            "to start an empty store, or restore it from a backup")
    if any(s in text for s in _BUSY):
        return PlannerError(f"the job store {path} stayed locked by another process for "
                            f"{BUSY_TIMEOUT_MS // 1000} s; try again")
    return PlannerError(f"the job store {path} could not be {'written' if writing else 'read'}: {err}")


def _rollback(db: sqlite3.Connection) -> None:
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite already rolled back (it does on SQLITE_FULL): nothing was committed


@contextmanager
def _transaction(path: Path, db_factory, begin: str, writing: bool):
    try:
        db = db_factory()
    except (sqlite3.Error, OSError) as err:
        raise store_error(path, err, writing) from err
    db.row_factory = sqlite3.Row
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute(begin)
        try:
            yield db
        except BaseException:
            _rollback(db)
            raise
        db.execute("COMMIT")
    except (sqlite3.Error, OSError) as err:
        raise store_error(path, err, writing) from err
    finally:
        db.close()


def ensure_schema(path: Path) -> None:
    """Create the state directory, the file and its tables (a write: only called before writing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    except (sqlite3.Error, OSError) as err:
        raise store_error(path, err, writing=True) from err
    try:
        db.execute("PRAGMA journal_mode=WAL")  # readers (pages) never block the writing worker
        db.executescript(SCHEMA)
    except sqlite3.Error as err:
        raise store_error(path, err, writing=True) from err
    finally:
        db.close()


def write_connection(path: Path, immediate: bool = False):
    """A transaction that may write (`BEGIN IMMEDIATE` takes the write lock at once, for atomic claims)."""
    factory = lambda: sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)  # noqa: E731
    return _transaction(path, factory, "BEGIN IMMEDIATE" if immediate else "BEGIN", writing=True)


def _read_only(path: Path, immutable: bool) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)


def _open_reader(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection inside a read transaction, and whether the store has its tables yet.

    A WAL file is read through its -shm index, which SQLite must be able to create; where it cannot
    (read-only directory, no space for the index) the file is read as immutable instead: every
    transaction checkpointed into the main file, which is all of them once no writer is left."""
    for immutable in (False, True):
        db = None
        try:
            db = _read_only(path, immutable)
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("BEGIN")
            found = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='jobs'").fetchone()
            return db, found is not None
        except (sqlite3.Error, OSError) as err:
            if db is not None:
                db.close()
            if immutable or not _cannot_open(err):
                raise store_error(path, err, writing=False) from err
    raise AssertionError("unreachable: the immutable pass returns or raises")


def _cannot_open(err: BaseException) -> bool:
    return isinstance(err, sqlite3.OperationalError) and any(
        s in str(err).lower() for s in ("unable to open", "readonly", "disk i/o", "disk is full"))


@contextmanager
def read_connection(path: Path):
    """A read-only transaction, or None when there is no store yet (nothing to list, nothing created)."""
    if not path.exists():
        yield None
        return
    db, has_tables = _open_reader(path)
    try:
        yield db if has_tables else None
        db.execute("COMMIT")
    except (sqlite3.Error, OSError) as err:
        raise store_error(path, err, writing=False) from err
    finally:
        db.close()
