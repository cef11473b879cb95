"""The "ladder-run" job kind: corpus -> tokenizer -> model -> training loop, with the job's callbacks.

A WSD cooldown branch is a job of the same kind whose spec names its parent job and step: it waits for
the parent's stable-phase checkpoint of that step and trains on from it. Jobs stored under the kind's
old name, "train", still run and display (planner.jobs.kinds.KINDS maps both names to `train_job`).
"""
from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.core.architecture import ModelConfig, flops_per_token, param_counts
from planner.errors import PlannerError
from planner.jobs import kinds
from planner.jobs.store import JobStore
from planner.jobs.retention import checkpoint_dir_for
from planner.train.corpus import CorpusSpec, load_corpus
from planner.train.loop import Callbacks, TrainConfig, Trainer, TrainResult, branch_checkpoint
from planner.train.model import build_model
from planner.train.tokenizer import token_data
from planner.verify.shapes import compute_params

KIND = "ladder-run"
PARENT_POLL_S = 1.0


class TrainSpec(BaseModel):
    """Everything a training run needs; stored as the job's spec."""

    model: ModelConfig
    train: TrainConfig
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    meta: dict = Field(default_factory=dict, description="free-form: ladder budget, role, ...")
    parent_job: int | None = Field(default=None, description="a cooldown branch: the stable run's job id")
    start_step: int = Field(default=0, description="a cooldown branch: the parent's checkpoint step")


class RunResult(TrainResult):
    """What a ladder-run job stores as its result (the meta keys of its spec ride along)."""

    model_config = ConfigDict(extra="allow")
    params: float
    total_params: int
    model: str
    flops_per_token: float
    corpus_manifest_sha256: str


def read_result(job) -> RunResult | None:
    """A finished run's result as stored, or None if it has none or one this version cannot read
    (written by another version, or by hand): the run then shows without a loss instead of failing."""
    if job.status != "done" or not job.result:
        return None
    try:
        return RunResult.model_validate(job.result)
    except ValidationError:
        return None


def run_training(spec: TrainSpec, callbacks: Callbacks | None = None, checkpoint_dir=None,
                 init_from=None) -> RunResult:
    corpus = load_corpus(spec.corpus)
    data = token_data(corpus, spec.model.vocab_size)
    model = build_model(spec.model, seed=spec.train.seed)
    fpt = flops_per_token(spec.model, seq_len=spec.train.seq_len).total
    trainer = Trainer(model, data.train, data.heldout, spec.train, fpt, callbacks, checkpoint_dir, init_from)
    result = trainer.run()
    return RunResult(**result.model_dump(), params=compute_params(spec.model),
                     total_params=param_counts(spec.model).total, model=spec.model.name, flops_per_token=fpt,
                     corpus_manifest_sha256=corpus.manifest_sha256, **spec.meta)


def parent_checkpoint(spec: TrainSpec, should_stop, store: JobStore | None = None):
    """The stable parent's checkpoint at the branch step, once it exists (None if cancelled first).
    A parent that finished without it (failed, cancelled) fails the branch with the reason."""
    path = checkpoint_dir_for(spec.parent_job) / branch_checkpoint(spec.start_step)
    store = store or JobStore()
    while not path.exists():
        if should_stop():
            return None
        parent = store.get(spec.parent_job)
        if parent.finished and not path.exists():
            raise PlannerError(f"parent run (job {spec.parent_job}) is {parent.status} without a checkpoint at "
                               f"step {spec.start_step}; retry it, then this branch")
        time.sleep(PARENT_POLL_S)
    return path


def train_job(spec: dict, ctx: kinds.JobContext) -> dict:
    parsed = TrainSpec.model_validate(spec)
    parsed.train.device = ctx.device  # the worker's slot decides where it runs
    init_from = None
    if parsed.parent_job is not None:
        init_from = parent_checkpoint(parsed, ctx.should_stop)
        if init_from is None:
            return {"stopped_before_start": True}
    callbacks = Callbacks(on_log=lambda step, metrics: ctx.log(step, **metrics), should_stop=ctx.should_stop)
    return run_training(parsed, callbacks, ctx.checkpoint_dir, init_from).model_dump()

