"""Measured adaptation runs: the job kind "adapt".

One job adapts one base model to one downstream corpus with every selected method, on the same data and
the same number of steps, and records per method: train and eval loss curves, peak memory, tokens/s,
wall time and trainable parameters, next to the estimate from `planner.adapt.estimate` for the same knobs.
peft builds LoRA, prompt, prefix and IA3; full fine-tuning, BitFit and the linear probe are plain torch.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

from pydantic import BaseModel, Field

from planner.adapt.estimate import METHOD_NAMES, AdaptRequest, get_method, resolve_model
from planner.core.architecture import ModelConfig
from planner.errors import PlannerError
from planner.jobs.runners import check_device
from planner.train.corpus import save_upload


# ---------------------------------------------------------------------------------------------- variants
def base_model(cfg: ModelConfig, seed: int = 0, checkpoint: str | None = None):
    """A transformers model of this shape (TRAIN's builder), with a verification run's weights if given."""
    from planner.train.model import build_model

    model = build_model(cfg, seed=seed)
    if checkpoint:
        import torch

        path = Path(checkpoint)
        if path.is_dir():
            path = path / "checkpoint.pt"
        if not path.is_file():
            raise PlannerError(f"base checkpoint {path} not found; give a verification run's checkpoint.pt")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    return model


def _is_norm(module) -> bool:
    return "norm" in type(module).__name__.lower()


def _freeze_all(model) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def _bitfit(model):
    """Train only biases and normalisation weights (BitFit, Ben Zaken et al. 2022; LN tuning on Llama)."""
    _freeze_all(model)
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "bias" or _is_norm(module):
                p.requires_grad_(True)
    return model


def _linear_probe(model):
    """Frozen body, trained output head. A head tied to the embedding gets its own trainable copy so the
    frozen input embedding stays frozen."""
    import torch

    _freeze_all(model)
    head = model.get_output_embeddings()
    head.weight = torch.nn.Parameter(head.weight.detach().clone(), requires_grad=True)
    return model


def build_variant(model, cfg: ModelConfig, req: AdaptRequest):
    """The model to train for `req.method` (peft for the methods peft implements, plain torch otherwise).
    Zero-shot returns the frozen base; QLoRA needs CUDA + bitsandbytes and is refused here."""
    method = get_method(req.method)
    method.validate(cfg, req)
    if method.name == "qlora":
        raise PlannerError("qlora needs CUDA + bitsandbytes for its 4-bit base; skipped on this machine")
    if method.name == "full":
        return model
    if method.name in ("zero-shot",):
        _freeze_all(model)
        return model
    if method.name == "bitfit":
        return _bitfit(model)
    if method.name == "linear-probe":
        return _linear_probe(model)
    from peft import get_peft_model
    return get_peft_model(model, method.peft_config(cfg, req))


def count_trainable(model) -> int:
    """Trainable parameters as autograd sees them (unique tensors with requires_grad)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


class _SkipVirtualTokens:
    """Prompt tuning prepends its virtual tokens to the logits; the loss only scores the real ones."""

    def __init__(self, model, virtual: int):
        self.model, self.virtual = model, virtual

    def __call__(self, **kwargs):
        out = self.model(**kwargs)
        out.logits = out.logits[:, self.virtual:]
        return out


# ---------------------------------------------------------------------------------------------- corpora
HELDOUT_FRACTION = 0.1  # small corpora (tens of KB) still get held-out chunks
PROSE = "prose"  # English prose inside the offline corpus: the Python documentation's topic pages
CODE = "stdlib"  # Python source: the corpus the base model is pretrained on


def prose_corpus_path() -> Path:
    """The Python docs' topic pages (pydoc_data.topics, shipped with every Python) as a .txt corpus:
    English prose with a little code, a domain shift from the standard library's source."""
    from pydoc_data.topics import topics

    from planner.core.settings import data_dir

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
    from planner.train.corpus import CorpusSpec, load_corpus
    from planner.train.tokenizer import _encode

    corpus = load_corpus(CorpusSpec(source=str(prose_corpus_path()) if source == PROSE else source,
                                    max_bytes=max_bytes, heldout_fraction=HELDOUT_FRACTION))
    train, heldout = corpus.split()
    return _encode(tokenizer, train), _encode(tokenizer, heldout)


# ---------------------------------------------------------------------------------------------- the runs
# Peak learning rates per method on these small models: adapters usually want ~10x the full fine-tuning LR
# (Hu et al. 2021 use 2e-4 for LoRA vs 2e-5 for full FT on GPT-3; Lester et al. 2021 use 0.3 for prompts).
LEARNING_RATES = {"full": 1e-3, "bitfit": 1e-2, "linear-probe": 1e-2, "lora": 1e-2, "qlora": 1e-2,
                  "ia3": 3e-2, "prompt": 3e-2, "prefix": 1e-2, "zero-shot": 0.0}


class AdaptRunSpec(BaseModel):
    """One measured comparison: every method adapts the same base on the same data for the same steps."""

    preset: str = Field("tiny", description="architecture preset of the base model")
    methods: list[str] = Field(default_factory=lambda: list(METHOD_NAMES))
    device: str = "cpu"
    corpus: str = Field(PROSE, description="downstream corpus: 'prose' (built-in) or a .txt/.jsonl path")
    corpus_bytes: int | None = Field(400_000, description="use this much downstream text")
    checkpoint: str | None = Field(None, description="base weights: a verification run's checkpoint.pt")
    base_corpus_bytes: int = Field(1_000_000, description="code the base is pretrained on (no checkpoint)")
    base_steps: int = Field(150, ge=0, description="pretraining steps on code when no checkpoint is given")
    steps: int = Field(40, ge=1, description="adaptation steps per method")
    evals: int = Field(4, ge=1)
    knobs: AdaptRequest = Field(default_factory=lambda: AdaptRequest(micro_batch=8, seq_len=64,
                                                                   precision="fp32"))
    seed: int = 0


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
    return total / 1e9


def _activation_gb(trainer, batch) -> float:
    """Bytes autograd keeps for the backward pass of one micro-batch (plus the logits), counted with
    saved-tensor hooks: the device-independent part of the peak that is not weights or states."""
    import torch

    saved = []

    def pack(t):
        saved.append(t)
        return t

    params = {p.data_ptr() for p in trainer.model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = trainer._loss(batch)
    acts = [t for t in saved if t.data_ptr() not in params]
    gb = _tensor_gb(acts)
    del loss, saved, acts
    return gb


def _cpu_memory(trainer, batch) -> dict:
    """Measured memory on a device without an allocator peak counter: exact bytes of the weights, the
    trained parameters' gradients and AdamW states, and the tensors saved for backward."""
    model, opt = trainer.model, trainer.optimizer
    parts = {"weights_gb": _tensor_gb(list(model.parameters()) + list(model.buffers())),
             "grads_gb": _tensor_gb(p.grad for p in model.parameters()),
             "optimizer_gb": _tensor_gb(t for state in opt.state.values() for t in state.values()
                                        if hasattr(t, "data_ptr") and t.dim() > 0)}
    if any(p.requires_grad for p in model.parameters()):
        parts["activations_gb"] = _activation_gb(trainer, batch)
    else:
        parts["activations_gb"] = 0.0
    parts["total_gb"] = sum(parts.values())
    return parts


def _trainer(model, data, spec: AdaptRunSpec, method: str, flops_per_token: float, log):
    from planner.train.loop import Callbacks, TrainConfig, Trainer

    knobs = spec.knobs
    cfg = TrainConfig(tokens=spec.steps * knobs.micro_batch * knobs.seq_len, batch_size=knobs.micro_batch,
                      seq_len=knobs.seq_len, lr=LEARNING_RATES[method] or 1e-3, evals=spec.evals,
                      eval_tokens=16 * knobs.seq_len * knobs.micro_batch, log_every=1, seed=spec.seed,
                      device=spec.device, compile="off", warmup_frac=0.1)
    return Trainer(model, data[0], data[1], cfg, flops_per_token, Callbacks(on_log=log[0], should_stop=log[1]))


def _run_method(base, cfg: ModelConfig, data, spec: AdaptRunSpec, name: str, log) -> MethodRun:
    import torch

    from planner.adapt.estimate import estimate
    from planner.train.loop import batch_at

    # the training loop decides the precision: bf16 autocast over fp32 weights on CUDA, plain fp32 on CPU
    precision = "amp" if spec.device.startswith("cuda") else "fp32"
    req = spec.knobs.model_copy(update={"method": name, "precision": precision})
    est = estimate(cfg, req)
    run = MethodRun(method=name, status="done", estimated_trainable_params=est.trainable_params,
                    estimated_memory_gb=est.memory_gb, estimated_memory=est.memory.model_dump(),
                    estimated_flops_per_token=est.flops_per_token)
    if name == "qlora":  # a 4-bit base needs bitsandbytes kernels on CUDA
        cuda_ready = spec.device.startswith("cuda") and _has_bitsandbytes()
        run.status = ("skipped: measured QLoRA runs are not implemented yet (estimate only)" if cuda_ready
                      else "skipped: needs CUDA + bitsandbytes")
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
    trainer = _trainer(model, data, spec, name, est.flops_per_token, (on_log, log[1]))
    if name == "prompt":
        trainer.forward = _SkipVirtualTokens(trainer.forward, req.virtual_tokens)
    if name == "zero-shot":
        run.final_eval_loss = trainer.evaluate()
        run.eval_curve = [{"step": 0, "tokens": 0, "seconds": 0.0, "eval_loss": run.final_eval_loss}]
        run.wall_s = time.time() - start
    else:
        result = trainer.run()
        run.final_eval_loss, run.tokens_per_s = result.final_loss, result.tokens_per_s
        run.wall_s = time.time() - start
    if cuda:
        run.peak_memory_gb = torch.cuda.max_memory_allocated() / 1e9
        run.memory_source = "torch.cuda.max_memory_allocated"
    else:
        run.measured_memory = _cpu_memory(trainer, batch_at(data[0], 0, trainer.cfg))
        run.peak_memory_gb = run.measured_memory["total_gb"]
        run.memory_source = "CPU: bytes of weights + grads + AdamW states + tensors saved for backward"
    return run


def _has_bitsandbytes() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def _base_tokens_and_model(cfg: ModelConfig, spec: AdaptRunSpec, log):
    """The base model and its tokenizer: pretrained briefly on code unless a checkpoint is given."""
    from planner.train.corpus import CorpusSpec, load_corpus
    from planner.train.tokenizer import train_tokenizer

    code = load_corpus(CorpusSpec(source=CODE, max_bytes=spec.base_corpus_bytes, heldout_fraction=HELDOUT_FRACTION))
    tokenizer = train_tokenizer(code, cfg.vocab_size)
    model = base_model(cfg, spec.seed, spec.checkpoint)
    if spec.checkpoint:
        return model, tokenizer, f"checkpoint {spec.checkpoint}"
    if spec.base_steps == 0:
        return model, tokenizer, "random initialisation (no checkpoint, no pretraining)"
    from planner.core.architecture import flops_per_token
    from planner.train.tokenizer import _encode

    train, heldout = code.split()
    data = (_encode(tokenizer, train), _encode(tokenizer, heldout))
    pre = spec.model_copy(update={"steps": spec.base_steps, "evals": 1})
    _trainer(model, data, pre, "full", flops_per_token(cfg, spec.knobs.seq_len).total,
             (lambda step, m: log[0]("pretrain", step, m), log[1])).run()
    return model, tokenizer, f"{cfg.name} pretrained for {spec.base_steps} steps on Python source"


def _check_device(device: str) -> None:
    check_device(device)  # the one device check, shared with the Verify ladder and job retries


def run_adaptation(spec: AdaptRunSpec, on_log=None, should_stop=None) -> AdaptRunResult:
    """Adapt one base model with every method in `spec.methods`, same data and steps for each."""
    for name in spec.methods:
        get_method(name)  # unknown names fail before any training
    _check_device(spec.device)
    cfg = resolve_model(spec.preset)
    log = (on_log or (lambda method, step, metrics: None), should_stop or (lambda: False))
    base, tokenizer, origin = _base_tokens_and_model(cfg, spec, log)
    data = _token_splits(spec.corpus, spec.corpus_bytes, tokenizer)
    runs = []
    for name in spec.methods:
        if log[1]():
            runs.append(MethodRun(method=name, status="skipped: cancelled"))
            continue
        try:
            runs.append(_run_method(base, cfg, data, spec, name, log))
        except PlannerError as err:
            runs.append(MethodRun(method=name, status=f"failed: {err}"))
    zero = next((r for r in runs if r.method == "zero-shot"), None)
    return AdaptRunResult(spec=spec, base=origin, runs=runs,
                          base_eval_loss=zero.final_eval_loss if zero else None)


def adapt_job(spec: dict, ctx) -> dict:
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


def _register() -> None:
    from planner.jobs import kinds

    kinds.register("adapt", adapt_job)


_register()


# ---------------------------------------------------------------------------------------------- job plumbing
JOB_KIND, JOB_GROUP = "adapt", "adapt"


def submit(spec: AdaptRunSpec, start_worker: bool = True, upload: tuple[str, bytes] | None = None) -> int:
    """Queue a measured comparison and make sure a worker for its device is alive; returns the job id.
    `upload` (file name, bytes): a downstream corpus, kept (and made the spec's corpus) only once every
    check passed, so a refused launch writes nothing."""
    from planner.jobs import JobStore
    from planner.jobs.runners import get_runner

    for name in spec.methods:
        get_method(name)
    resolve_model(spec.preset)
    if not spec.methods:
        raise PlannerError("choose at least one method to measure")
    _check_device(spec.device)  # a launch that could never run queues nothing
    if upload:
        spec = spec.model_copy(update={"corpus": str(save_upload(*upload))})
    job_id = JobStore().submit(JOB_KIND, spec.model_dump(), group=JOB_GROUP, device=spec.device)
    if start_worker:
        get_runner("local").ensure_workers(spec.device)
    return job_id


def save_uploaded_corpus(filename: str, data: bytes) -> str:
    """Keep an uploaded downstream corpus (.txt: documents separated by two blank lines; .jsonl: one
    {"text": ...} per line): the one `planner.train.corpus.save_upload`; returns the path a spec's `corpus` takes."""
    return str(save_upload(filename, data))


def jobs() -> list:
    from planner.jobs import JobStore

    return JobStore().list_jobs(kind=JOB_KIND)
