"""The "train" job kind: corpus -> tokenizer -> model -> training loop, with the job's callbacks."""
from __future__ import annotations

from pydantic import BaseModel, Field

from planner.core.architecture import ModelConfig, flops_per_token, param_counts
from planner.jobs import kinds
from planner.train.corpus import CorpusSpec, load_corpus
from planner.train.loop import Callbacks, TrainConfig, Trainer
from planner.train.model import build_model, compute_params
from planner.train.tokenizer import token_data


class TrainSpec(BaseModel):
    """Everything a training run needs; stored as the job's spec."""

    model: ModelConfig
    train: TrainConfig
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    meta: dict = Field(default_factory=dict, description="free-form: ladder budget, role, ...")


def run_training(spec: TrainSpec, callbacks: Callbacks | None = None, checkpoint_dir=None) -> dict:
    corpus = load_corpus(spec.corpus)
    data = token_data(corpus, spec.model.vocab_size)
    model = build_model(spec.model, seed=spec.train.seed)
    fpt = flops_per_token(spec.model, seq_len=spec.train.seq_len).total
    trainer = Trainer(model, data.train, data.heldout, spec.train, fpt, callbacks, checkpoint_dir)
    result = trainer.run()
    return {**result.model_dump(), "params": compute_params(spec.model),
            "total_params": param_counts(spec.model).total, "model": spec.model.name,
            "flops_per_token": fpt, "corpus_manifest_sha256": corpus.manifest_sha256, **spec.meta}


def train_job(spec: dict, ctx: kinds.JobContext) -> dict:
    parsed = TrainSpec.model_validate(spec)
    parsed.train.device = ctx.device  # the worker's slot decides where it runs
    callbacks = Callbacks(on_log=lambda step, metrics: ctx.log(step, **metrics), should_stop=ctx.should_stop)
    return run_training(parsed, callbacks, ctx.checkpoint_dir)


kinds.register("train", train_job)
