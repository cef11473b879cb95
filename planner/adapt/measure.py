"""Measured adaptation runs (run as the job kind "adapt", planner.adapt.job).

One job adapts one base model to one downstream corpus with every selected method, on the same data and
the same number of steps, and records per method: train and eval loss curves, peak memory, tokens/s,
wall time and trainable parameters, next to the estimate from `planner.adapt.estimate` for the same knobs.
Each method's own class (planner.adapt.methods) builds its trainable model, says whether it can run on the
device, and gives its learning rate. Base weights come only from this store's finished verification runs.
"""
from __future__ import annotations

import copy
import pickle
import time
from pathlib import Path

from pydantic import BaseModel, Field

from planner.adapt.estimate import AdaptRequest, estimate, resolve_model
from planner.adapt.methods import AdaptMethod, get_method, method_names
from planner.core.architecture import ModelConfig, flops_per_token
from planner.core.memory import GB
from planner.core.settings import data_dir
from planner.errors import PlannerError
from planner.jobs import JobStore
from planner.jobs.retention import checkpoint_dir_for
from planner.jobs.runners import check_device
from planner.jobs.store import Job
from planner.train.corpus import CorpusSpec, load_corpus
from planner.train.loop import CHECKPOINT, Callbacks, TrainConfig, Trainer, batch_at
from planner.train.model import build_model
from planner.train.tokenizer import _encode, train_tokenizer  # the runs' own encoding (EOT-joined)
from planner.verify.grid import RUN_KINDS  # verification runs: the only checkpoints a base may come from
from planner.verify.job import TrainSpec

PRETRAIN_LR = 1e-3  # the base's brief pretraining on code (a full-model run, like full fine-tuning's rate)


# ---------------------------------------------------------------------------------------------- base weights
def _finished_base_job(job_id: int) -> Job:
    job = JobStore().get(job_id)
    if job.kind not in RUN_KINDS or job.status != "done":
        raise PlannerError(f"job {job_id} is a {job.kind} job that is {job.status}; the base must be a finished "
                           "verification run (see `python -m planner jobs`)")
    return job


def load_base_weights(job_id: int) -> dict:
    """The model weights of a finished verification run, loaded with weights_only=True: tensors and plain
    types only, so a file that carries pickled code is refused instead of run (issue 8)."""
    import torch  # heavy import, only for measured runs

    _finished_base_job(job_id)
    path = checkpoint_dir_for(job_id) / CHECKPOINT
    if not path.is_file():
        raise PlannerError(f"job {job_id} has no checkpoint left (removed by the retention rule); "
                           "choose another finished run")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PlannerError(f"refused to load the checkpoint of job {job_id}: it is not plain tensors and "
                           f"numbers (weights_only=True): {first[:200]}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
        raise PlannerError(f"the checkpoint of job {job_id} has no model weights")
    return saved["model"]


def base_model(cfg: ModelConfig, seed: int = 0, weights: dict | None = None):
    """A transformers model of this shape (TRAIN's builder), with a verification run's weights if given."""
    model = build_model(cfg, seed=seed)
    if weights is not None:
        try:
            model.load_state_dict(weights)
        except RuntimeError as err:  # missing/unexpected keys or shapes: not this model's weights
            raise PlannerError(f"the base checkpoint does not fit the {cfg.name} model: "
                               f"{str(err).splitlines()[0][:200]}") from None
    return model


def build_variant(model, cfg: ModelConfig, req: AdaptRequest):
    """The model to train for `req.method`: the method's own class builds it (peft or plain torch)."""
    method = get_method(req.method)
    method.check(cfg, req)
    return method.build(model, cfg, req)


def count_trainable(model) -> int:
    """Trainable parameters as autograd sees them (unique tensors with requires_grad)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


# ---------------------------------------------------------------------------------------------- corpora
HELDOUT_FRACTION = 0.1  # small corpora (tens of KB) still get held-out chunks
PROSE = "prose"  # English prose inside the offline corpus: the Python documentation's topic pages
CODE = "stdlib"  # Python source: the corpus the base model is pretrained on


def prose_corpus_path() -> Path:
    """The Python docs' topic pages (pydoc_data.topics, shipped with every Python) as a .txt corpus:
    English prose with a little code, a domain shift from the standard library's source."""
    from pydoc_data.topics import topics  # a 700 kB module, only when the prose corpus is first built

    path = data_dir() / "corpora" / "python-docs-prose.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n\n\n".join(topics[name].strip() for name in sorted(topics))  # blank lines split documents
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def _token_splits(source: str, max_bytes: int | None, tokenizer) -> tuple:
    """(train, held-out) token arrays of a corpus, encoded with the base model's tokenizer."""
    corpus = load_corpus(CorpusSpec(source=str(prose_corpus_path()) if source == PROSE else source,
                                    max_bytes=max_bytes, heldout_fraction=HELDOUT_FRACTION))
    train, heldout = corpus.split()
    return _encode(tokenizer, train), _encode(tokenizer, heldout)


# ---------------------------------------------------------------------------------------------- the runs
class AdaptRunSpec(BaseModel):
    """One measured comparison: every method adapts the same base on the same data for the same steps."""

    preset: str = Field("tiny", description="architecture preset of the base model (ignored with base_job)")
    methods: list[str] = Field(default_factory=method_names)
    device: str = "cpu"
    corpus: str = Field(PROSE, description="downstream corpus: 'prose' (built-in) or a .txt/.jsonl path")
    corpus_bytes: int | None = Field(400_000, description="use this much downstream text")
    base_job: int | None = Field(None, description="base weights: a finished verification job of this store "
                                                   "(its model, tokenizer and final checkpoint)")
    base_corpus_bytes: int = Field(1_000_000, description="code the base is pretrained on (no base job)")
    base_steps: int = Field(150, ge=0, description="pretraining steps on code when no base job is given")
    steps: int = Field(40, ge=1, description="adaptation steps per method")
    evals: int = Field(4, ge=1)
    knobs: AdaptRequest = Field(default_factory=lambda: AdaptRequest(micro_batch=8, seq_len=64,
                                                                   precision="fp32"))
    seed: int = 0


def check_runnable(knobs: AdaptRequest) -> None:
    """The loop runs SDPA attention without recomputation (planner.train.model, Trainer): an estimate made with
    other settings would be set beside a run that did not use them. (The precision is the device's: _planned.)"""
    if knobs.gradient_checkpointing or knobs.attention != "sdpa":
        raise PlannerError("measured runs use SDPA attention without gradient checkpointing; other attention "
                           "kernels and checkpointing are knobs of the estimate only (adapt-estimate)")


class MethodRun(BaseModel):
    """What one method did: its curves, cost and the estimate for the same knobs, side by side."""

    method: str
    status: str = Field(description="done, or 'skipped: why' / 'failed: why'")
    trainable_params: int | None = None
    estimated_trainable_params: int | None = None
    train_curve: list[dict] = Field(default_factory=list, description="step, tokens, seconds, loss")
    eval_curve: list[dict] = Field(default_factory=list, description="step, tokens, seconds, eval_loss")
    final_eval_loss: float | None = None
    wall_s: float | None = None
    tokens_per_s: float | None = None
    peak_memory_gb: float | None = Field(None, description="measured peak (see memory_source)")
    memory_source: str = ""
    measured_memory: dict = Field(default_factory=dict, description="measured parts, GB")
    estimated_memory_gb: float | None = None
    estimated_memory: dict = Field(default_factory=dict)
    estimated_flops_per_token: float | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"


class AdaptRunResult(BaseModel):
    spec: AdaptRunSpec
    base: str = Field(description="where the base weights came from")
    base_eval_loss: float | None = Field(None, description="the base model's loss on the downstream text")
    runs: list[MethodRun]


def _tensor_gb(tensors) -> float:
    seen, total = set(), 0
    for t in tensors:
        if t is not None and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total / GB


def _activation_gb(trainer: Trainer, batch) -> float:
    """Bytes autograd keeps for the backward pass of one micro-batch (plus the logits), counted with
    saved-tensor hooks: the device-independent part of the peak that is not weights or states."""
    import torch  # heavy import, only for measured runs

    saved = []

    def pack(t):
        saved.append(t)
        return t

    params = {p.data_ptr() for p in trainer.model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = trainer.loss(batch)
    acts = [t for t in saved if t.data_ptr() not in params]
    gb = _tensor_gb(acts)
    del loss, saved, acts
    return gb


def _cpu_memory(trainer: Trainer, batch) -> dict:
    """Measured memory on a device without an allocator peak counter: exact bytes of the weights, the
    trained parameters' gradients and AdamW states, and the tensors saved for backward."""
    model, opt = trainer.model, trainer.optimizer
    parts = {"weights_gb": _tensor_gb(list(model.parameters()) + list(model.buffers())),
             "grads_gb": _tensor_gb(p.grad for p in model.parameters()),
             "optimizer_gb": _tensor_gb(t for state in opt.state.values() for t in state.values()
                                        if hasattr(t, "data_ptr") and t.dim() > 0)}
    trains = any(p.requires_grad for p in model.parameters())
    parts["activations_gb"] = _activation_gb(trainer, batch) if trains else 0.0
    parts["total_gb"] = sum(parts.values())
    return parts


def _trainer(model, data, spec: AdaptRunSpec, lr: float, flops_per_token: float, log) -> Trainer:
    knobs = spec.knobs
    cfg = TrainConfig(tokens=spec.steps * knobs.micro_batch * knobs.seq_len, batch_size=knobs.micro_batch,
                      seq_len=knobs.seq_len, lr=lr, evals=spec.evals,
                      eval_tokens=16 * knobs.seq_len * knobs.micro_batch, log_every=1, seed=spec.seed,
                      device=spec.device, compile="off", warmup_frac=0.1)
    return Trainer(model, data[0], data[1], cfg, flops_per_token, Callbacks(on_log=log[0], should_stop=log[1]))


def _planned(cfg: ModelConfig, spec: AdaptRunSpec, method: AdaptMethod) -> tuple[AdaptRequest, MethodRun]:
    """The request a measured run makes (the loop decides the precision: bf16 autocast over fp32 weights
    on CUDA, plain fp32 on CPU) and its estimate, before anything runs."""
    precision = "amp" if spec.device.startswith("cuda") else "fp32"
    req = spec.knobs.model_copy(update={"method": method.name, "precision": precision})
    est = estimate(cfg, req)
    return req, MethodRun(method=method.name, status="done", estimated_trainable_params=est.trainable_params,
                          estimated_memory_gb=est.memory_gb, estimated_memory=est.memory.model_dump(),
                          estimated_flops_per_token=est.flops_per_token)


def _train(trainer: Trainer, method: AdaptMethod, run: MethodRun, start: float) -> None:
    if method.trains:
        result = trainer.run()
        run.final_eval_loss, run.tokens_per_s = result.final_loss, result.tokens_per_s
    else:  # nothing to train: the base model's held-out loss
        run.final_eval_loss = trainer.evaluate()
        run.eval_curve = [{"step": 0, "tokens": 0, "seconds": 0.0, "eval_loss": run.final_eval_loss}]
    run.wall_s = time.time() - start


def _run_method(base, cfg: ModelConfig, data, spec: AdaptRunSpec, name: str, log) -> MethodRun:
    import torch  # heavy import, only for measured runs

    method = get_method(name)
    req, run = _planned(cfg, spec, method)
    reason = method.unavailable(spec.device)
    if reason:
        run.status = f"skipped: {reason}"
        return run
    model = build_variant(copy.deepcopy(base), cfg, req)
    run.trainable_params = count_trainable(model)
    start = time.time()

    def on_log(step, metrics):
        point = {"step": step, "tokens": metrics["tokens"], "seconds": time.time() - start}
        run.train_curve.append({**point, "loss": metrics["loss"]})
        if "eval_loss" in metrics:
            run.eval_curve.append({**point, "eval_loss": metrics["eval_loss"]})
        log[0](name, step, metrics)

    cuda = spec.device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = _trainer(model, data, spec, method.learning_rate or 1e-3, run.estimated_flops_per_token,
                       (on_log, log[1]))
    _train(trainer, method, run, start)
    if cuda:
        run.peak_memory_gb = torch.cuda.max_memory_allocated() / GB
        run.memory_source = "torch.cuda.max_memory_allocated"
    else:
        run.measured_memory = _cpu_memory(trainer, batch_at(data[0], 0, trainer.cfg))
        run.peak_memory_gb = run.measured_memory["total_gb"]
        run.memory_source = "CPU: bytes of weights + grads + AdamW states + tensors saved for backward"
    return run


def _pretrained_base(cfg: ModelConfig, spec: AdaptRunSpec, log):
    """The base model and its tokenizer when no verification run is given: pretrained briefly on code."""
    code = load_corpus(CorpusSpec(source=CODE, max_bytes=spec.base_corpus_bytes, heldout_fraction=HELDOUT_FRACTION))
    tokenizer = train_tokenizer(code, cfg.vocab_size)
    model = base_model(cfg, spec.seed)
    if spec.base_steps == 0:
        return model, tokenizer, "random initialisation (no base job, no pretraining)"
    train, heldout = code.split()
    data = (_encode(tokenizer, train), _encode(tokenizer, heldout))
    pre = spec.model_copy(update={"steps": spec.base_steps, "evals": 1})
    _trainer(model, data, pre, PRETRAIN_LR, flops_per_token(cfg, spec.knobs.seq_len).total,
             (lambda step, m: log[0]("pretrain", step, m), log[1])).run()
    return model, tokenizer, f"{cfg.name} pretrained for {spec.base_steps} steps on Python source"


def _base(spec: AdaptRunSpec, log):
    """(shape, model, tokenizer, origin): a finished verification run's model with its own tokenizer and
    final weights, or a small preset pretrained here."""
    if spec.base_job is None:
        cfg = resolve_model(spec.preset)
        return (cfg, *_pretrained_base(cfg, spec, log))
    weights = load_base_weights(spec.base_job)  # refuses before anything else is built
    train_spec = TrainSpec.model_validate(_finished_base_job(spec.base_job).spec)
    cfg = train_spec.model
    tokenizer = train_tokenizer(load_corpus(train_spec.corpus), cfg.vocab_size)  # the run's own (cached)
    return cfg, base_model(cfg, spec.seed, weights), tokenizer, f"verification job {spec.base_job} ({cfg.name})"


def run_adaptation(spec: AdaptRunSpec, on_log=None, should_stop=None) -> AdaptRunResult:
    """Adapt one base model with every method in `spec.methods`, same data and steps for each."""
    methods = [get_method(name) for name in spec.methods]  # unknown names fail before any training
    check_runnable(spec.knobs)
    check_device(spec.device)
    log = (on_log or (lambda method, step, metrics: None), should_stop or (lambda: False))
    cfg, base, tokenizer, origin = _base(spec, log)
    data = _token_splits(spec.corpus, spec.corpus_bytes, tokenizer)
    runs = []
    for method in methods:
        if log[1]():
            runs.append(MethodRun(method=method.name, status="skipped: cancelled"))
            continue
        try:
            runs.append(_run_method(base, cfg, data, spec, method.name, log))
        except PlannerError as err:
            runs.append(MethodRun(method=method.name, status=f"failed: {err}"))
    untrained = next((r for r, m in zip(runs, methods) if not m.trains and r.done), None)
    return AdaptRunResult(spec=spec, base=origin, runs=runs,
                          base_eval_loss=untrained.final_eval_loss if untrained else None)
