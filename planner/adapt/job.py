"""The measured comparison as a job of the store: choosing base weights, queueing, the job kind "adapt" a worker
runs (planner.jobs.kinds), reading results back typed.

Base weights are chosen from this store's finished verification runs (`base_jobs`), never from a path that
someone typed or uploaded; an uploaded corpus is only ever read as text (issue 8)."""
from __future__ import annotations

from planner.adapt.measure import AdaptRunResult, AdaptRunSpec, check_runnable, load_base_weights, run_adaptation
from planner.adapt.methods import get_method
from planner.adapt.estimate import resolve_model
from planner.errors import PlannerError
from planner.jobs import JobStore, kinds
from planner.jobs.retention import checkpoint_dir_for
from planner.jobs.runners import get_runner
from planner.jobs.store import Job
from planner.train.corpus import check_upload, save_upload
from planner.train.loop import CHECKPOINT
from planner.verify.grid import RUN_KINDS

JOB_KIND, JOB_GROUP = "adapt", "adapt"


def base_jobs() -> list[Job]:
    """This store's finished verification runs that still have their final checkpoint, newest first."""
    done = [j for kind in RUN_KINDS for j in JobStore().list_jobs(kind=kind) if j.status == "done"]
    return sorted((j for j in done if (checkpoint_dir_for(j.id) / CHECKPOINT).is_file()),
                  key=lambda j: j.id, reverse=True)


def base_job_label(job: Job) -> str:
    model = job.spec.get("model", {})
    return f"job {job.id}: {model.get('name', '?')} ({job.group or 'no ladder'})"


def submit(spec: AdaptRunSpec, start_worker: bool = True, upload: tuple[str, bytes] | None = None) -> int:
    """Queue a measured comparison and make sure a worker for its device is alive; returns the job id.
    Everything is checked first (methods, base job: a finished verification run with a plain-tensor
    checkpoint); an uploaded corpus (name, bytes) is saved only then, so a refused launch writes nothing."""
    if not spec.methods:
        raise PlannerError("choose at least one method to measure")
    for name in spec.methods:
        get_method(name)
    check_runnable(spec.knobs)
    get_runner("local").check_device(spec.device)
    if upload is not None:
        check_upload(*upload)  # a bad upload is refused before anything is written
    if spec.base_job is None:
        resolve_model(spec.preset)
    else:
        load_base_weights(spec.base_job)
    if upload is not None:
        # kept the one way every upload is kept: checked as text, content-addressed under uploads/
        spec = spec.model_copy(update={"corpus": str(save_upload(*upload))})
    job_id = JobStore().submit(JOB_KIND, spec.model_dump(), group=JOB_GROUP, device=spec.device)
    if start_worker:
        get_runner("local").ensure_workers(spec.device)
    return job_id


def jobs() -> list[Job]:
    return JobStore().list_jobs(kind=JOB_KIND)


def result_of(job: Job) -> AdaptRunResult | None:
    """A finished comparison's result, typed (None until it is done)."""
    return AdaptRunResult.model_validate(job.result) if job.status == "done" and job.result else None


def adapt_job(spec: dict, ctx: kinds.JobContext) -> dict:
    """The "adapt" job kind: the worker's device decides where it runs; progress goes to the store."""
    parsed = AdaptRunSpec.model_validate(spec)
    parsed.device = ctx.device
    total = len(parsed.methods) * parsed.steps
    done = {"n": 0}

    def on_log(method, step, metrics):
        if method != "pretrain":
            done["n"] += 1
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "progress"}
        ctx.log(done["n"], method=method, method_step=step, progress=min(1.0, done["n"] / total), **numbers)

    return run_adaptation(parsed, on_log, ctx.should_stop).model_dump()
