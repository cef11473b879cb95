"""Runner backends: how workers get started. One small interface, two backends.

- `local` (default): one detached `python -m planner worker` subprocess per GPU on this machine
  (CUDA_VISIBLE_DEVICES pins each to its GPU), or one CPU worker when there is no GPU.
- `ray`: one Ray task per GPU slot (`num_gpus=1`; `num_gpus=0` on CPU) running the same worker loop,
  for a cluster whose nodes share $SCALEPLAN_HOME (the job store is one SQLite file there).

Either way the workers read jobs from the store, so a runner only has to make sure enough are alive.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from typing import Protocol

from planner.errors import PlannerError
from planner.jobs.store import JobStore
from planner.core.settings import REPO_ROOT, data_dir

IDLE_EXIT_S = 300.0  # a worker started for a launch goes away after 5 idle minutes


def local_gpu_count() -> int:
    """GPUs on this machine, without importing torch into the caller (the Streamlit server)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([v for v in visible.split(",") if v.strip() and v.strip() != "-1"])
    return _nvidia_smi_gpus()


@functools.cache  # a subprocess per call: the Verify page asks on every rerun and every 2 s poll
def _nvidia_smi_gpus() -> int:
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def default_device() -> str:
    return "cuda" if local_gpu_count() else "cpu"


def check_device(device: str, gpus: int | None = None, where: str = "on this machine") -> None:
    """The one device check (ladder launch and retry, adaptation submit and run, job retry, the pages):
    'cpu' always runs; 'cuda' needs a GPU. `gpus`: how many the runner sees (default: this machine's)."""
    if device not in ("cpu", "cuda"):
        raise PlannerError(f"device must be 'cpu' or 'cuda' (got {device!r})")
    if device == "cuda" and (local_gpu_count() if gpus is None else gpus) == 0:
        raise PlannerError(f"no CUDA GPU found {where}; use device 'cpu'")


def slots_for(device: str) -> list[str]:
    check_device(device)
    return ["cpu"] if device == "cpu" else [f"cuda:{i}" for i in range(local_gpu_count())]


class Runner(Protocol):
    name: str

    def check_device(self, device: str) -> None:
        """Raise PlannerError if this runner cannot run jobs on `device`; call it before queueing any."""

    def ensure_workers(self, device: str) -> list[int]:
        """Start workers for the device's slots that have none alive; return the new workers' pids."""


class LocalRunner:
    name = "local"

    def __init__(self, idle_exit_s: float = IDLE_EXIT_S):
        self.idle_exit_s = idle_exit_s

    def check_device(self, device: str) -> None:
        check_device(device)

    def ensure_workers(self, device: str) -> list[int]:
        store = JobStore()  # reserve_spawn: two pages or CLIs launching at once start one worker, not two
        return [self.start_worker(slot).pid for slot in slots_for(device) if store.reserve_spawn(slot)]

    def start_worker(self, slot: str) -> subprocess.Popen:
        """A detached worker process: it outlives the page or CLI that started it (new session),
        logs to $SCALEPLAN_HOME/logs/, and exits after `idle_exit_s` idle seconds."""
        env = os.environ.copy()
        if slot.startswith("cuda"):
            env["CUDA_VISIBLE_DEVICES"] = slot.partition(":")[2] or "0"
        path = data_dir() / "logs" / f"worker-{slot.replace(':', '')}.log"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            log = open(path, "ab")
        except OSError as err:  # read-only or full state directory: say so, not a traceback
            raise PlannerError(f"cannot start a worker: cannot write its log {path} ({err.strerror or err}); "
                               "make the state directory writable or free space") from err
        cmd = [sys.executable, "-m", "planner", "worker", "--slot", slot, "--idle-exit", str(self.idle_exit_s)]
        return subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _ray_worker_task(slot: str, home: str, idle_exit_s: float) -> dict:
    os.environ["SCALEPLAN_HOME"] = home
    from planner.jobs.worker import run_worker

    if slot != "cpu":
        import ray

        slot = f"cuda:{ray.get_gpu_ids()[0]}"  # Ray already set CUDA_VISIBLE_DEVICES for this task
    return run_worker(slot=slot, idle_exit_s=idle_exit_s)


class RayRunner:
    """Workers as Ray tasks. `address=None` starts (or joins) a local Ray instance."""

    name = "ray"

    def __init__(self, address: str | None = None, idle_exit_s: float = IDLE_EXIT_S, num_cpus: int | None = None):
        self.address, self.idle_exit_s, self.num_cpus = address, idle_exit_s, num_cpus
        self.refs = []

    def _init(self):
        import ray

        if not ray.is_initialized():
            kwargs = {"address": self.address} if self.address else {"num_cpus": self.num_cpus}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        return ray

    def check_device(self, device: str) -> None:
        gpus = int(self._init().cluster_resources().get("GPU", 0)) if device == "cuda" else 0  # no Ray for a typo
        check_device(device, gpus, where="in the Ray cluster")

    def ensure_workers(self, device: str) -> list[int]:
        self.check_device(device)
        ray = self._init()
        gpus = int(ray.cluster_resources().get("GPU", 0))
        store, task = JobStore(), ray.remote(_ray_worker_task)
        if device == "cpu":
            wanted = ["cpu"] if store.reserve_spawn("cpu") else []
        else:  # Ray picks the GPU: reserve one placeholder per GPU not yet holding a live worker
            live = sum(w.slot.startswith("cuda") for w in store.live_workers())
            wanted = ["cuda" for k in range(live, gpus) if store.reserve_spawn(f"ray-gpu-{k}")]
        for slot in wanted:
            opts = {"num_gpus": 0 if slot == "cpu" else 1, "num_cpus": 1}
            self.refs.append(task.options(**opts).remote(slot, str(data_dir()), self.idle_exit_s))
        return []  # Ray owns the processes; their pids show in the store once they register

    def results(self, timeout_s: float | None = None) -> list[dict]:
        ray = self._init()
        return ray.get(self.refs, timeout=timeout_s)


RUNNERS = {"local": LocalRunner, "ray": RayRunner}


def get_runner(name: str = "local", **kwargs) -> Runner:
    if name not in RUNNERS:
        raise PlannerError(f"unknown runner {name!r}; choose one of: {', '.join(RUNNERS)}")
    return RUNNERS[name](**kwargs)


def retry_job(job_id: int, runner: Runner | None = None, store: JobStore | None = None, start_workers: bool = True):
    """Queue a failed or cancelled job again and (unless told not to) make sure a worker will run it.
    Checks first that the job can be retried and that the runner can run its device: a refused retry
    changes nothing."""
    store, runner = store or JobStore(), runner or get_runner("local")
    job = store.get(job_id)
    if job.status not in ("failed", "cancelled"):
        raise PlannerError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
    device = (job.device or default_device()).split(":")[0]
    try:
        runner.check_device(device)
    except PlannerError as err:
        raise PlannerError(f"cannot retry job {job_id} (left {job.status}): {err}") from None
    job = store.retry(job_id)
    if start_workers:
        runner.ensure_workers(device)
    return job
