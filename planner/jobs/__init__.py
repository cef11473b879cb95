"""Jobs: a SQLite store, a registry of job kinds, workers that run them, runner backends that start workers."""
from planner.jobs.store import Job, JobStore

__all__ = ["Job", "JobStore"]
