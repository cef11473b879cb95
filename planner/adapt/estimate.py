"""What adapting a base model costs, per method: trainable parameters, memory per GPU, FLOPs per token,
GPU-hours and dollars, and whether it fits on one GPU.

What makes each method different lives in its own class under `planner.adapt.methods` (like peft's
`tuners/<method>/`); this module only combines them with the shared base-model formulas
(`planner.core.architecture`, `planner.core.memory`) and budget conversions (`planner.core.budget`).
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from planner.adapt import advice
from planner.adapt.methods import AdaptMethod, get_method, method_names
from planner.adapt.methods.base import AdaptRequest, MemoryBreakdown, linear_modules, trained_state_bytes
from planner.catalog import catalog
from planner.core.architecture import PRESETS, ModelConfig, check_context, param_counts, suggest_shape
from planner.core.budget import check_mfu, flops_to_gpu_hours, gpu_hours_to_usd
from planner.core.hardware import Accelerator, get_accelerator
from planner.core.memory import (ALLOCATOR_OVERHEAD, CUDA_CONTEXT_BYTES, GB, GIB, fits_on, peak_bytes,
                                 usable_gb as memory_usable_gb)
from planner.core.numbers import check_positive
from planner.errors import PlannerError

PRECISION_NOTES = {"bf16": "bf16 weights, grads and AdamW states", "mixed": "bf16 weights, fp32 master + Adam",
                   "amp": "fp32 weights and AdamW states, bf16 autocast activations",
                   "fp32": "fp32 weights, AdamW states and activations"}



class AdaptEstimate(BaseModel):
    """Estimated cost of one method on one base model; `assumptions` says what was assumed."""

    method: str
    model: str
    trainable_params: int
    total_params: int
    trainable_percent: float
    memory_gb: float = Field(description="peak memory per GPU that the tensors take (allocated), 1e9 bytes")
    memory: MemoryBreakdown
    flops_per_token: float = Field(description="training FLOPs per dataset token (zero-shot: inference)")
    train_flops: float
    gpu_hours: float = Field(description="compute time at the MFU plus the optimizer steps")
    optimizer_gpu_hours: float = Field(description="part of gpu_hours spent in bandwidth-bound AdamW steps")
    usd: float
    accelerator: str
    accelerator_memory_gb: float
    fits_one_gpu: bool = Field(description="memory + CUDA context and allocator overhead <= the card's bytes")
    advice: str = ""
    assumptions: list[str]


def _key(name: str) -> str:
    """How a model name is looked up: 'Llama-2-70B' and 'llama 2 70b'-style spellings meet the preset key."""
    return name.strip().lower().replace(" ", "-")


def resolve_model(model: str | ModelConfig) -> ModelConfig:
    """An architecture preset, or a model-table entry (data/models.csv), as a ModelConfig.

    A table entry whose name is a preset ("Llama-2-70B") uses that preset's exact shape; any other entry
    gets the conventional Llama-style shape with its parameter count (`suggest_shape`), named after it."""
    if isinstance(model, ModelConfig):
        return model
    key = _key(model)
    if key in PRESETS:
        return PRESETS[key]
    entries = {_key(m.name): m for m in catalog()}
    if key in entries:
        entry = entries[key]
        shape = suggest_shape(entry.params, family="llama")
        return shape.model_copy(update={"name": f"{entry.name} (shape suggested for {entry.params:.3g} params)"})
    raise PlannerError(f"unknown model preset '{model}'; choose a preset ({', '.join(PRESETS)}) "
                       f"or a model-table entry ({', '.join(m.name for m in catalog())})")


MAX_ADAPT_TOKENS = 1e15


def _validate_shared(req: AdaptRequest) -> None:
    """The knobs every method uses: a bad one concerns them all."""
    for field, value in (("micro_batch", req.micro_batch), ("seq_len", req.seq_len)):
        if value < 1:
            raise PlannerError(f"{field} must be at least 1 (got {value})")
    check_positive("dataset_tokens", req.dataset_tokens)  # the one check: NaN and inf are refused too
    check_positive("epochs", req.epochs)
    if req.dataset_tokens * req.epochs > MAX_ADAPT_TOKENS:  # 1e300 tokens overflowed every method's FLOPs
        raise PlannerError(f"dataset tokens x epochs = {req.dataset_tokens * req.epochs:.3g}: past "
                           f"{MAX_ADAPT_TOKENS:.0e}, 60 times Llama 3's 15.6T pre-training tokens; adaptation data "
                           "is far smaller")
    check_mfu(req.mfu)
    get_accelerator(req.accelerator)


def trainable_params(model: str | ModelConfig, req: AdaptRequest) -> int:
    cfg, method = resolve_model(model), get_method(req.method)
    method.check(cfg, req)
    return method.trainable_params(cfg, req)


def _optimizer_gpu_hours(req: AdaptRequest, method: AdaptMethod, trainable: int, accel: Accelerator) -> float:
    """AdamW steps are bandwidth-bound, not FLOP-bound: each step reads weight, gradient and both moments
    and writes weight and moments of every trained parameter. Negligible for adapters; for full fine-tuning
    with short sequences it is a real share of the time (peft's full FT run took 2.28x LoRA's time where
    FLOPs alone predict 1.47x). One optimizer step per micro-batch (no gradient accumulation)."""
    if not method.trains or trainable == 0:
        return 0.0
    w, g, o = trained_state_bytes(req.precision if method.trains_base else "fp32")  # adapters stay fp32
    steps = req.dataset_tokens * req.epochs / (req.micro_batch * req.seq_len)
    bytes_per_step = trainable * ((w + g + o) + (w + o))  # read all three, write weight and moments
    return steps * bytes_per_step / (accel.bandwidth_tbs * 1e12) / 3600


def device_bytes(memory_gb: float) -> float:
    """What the GPU must hold for an allocated peak of `memory_gb` on one GPU (core.memory.peak_bytes)."""
    return peak_bytes(memory_gb * GB, distributed=False)


def fits(memory_gb: float, accel: Accelerator) -> bool:
    """Allocated bytes + allocator overhead + CUDA context within the card's capacity (one GPU: no NCCL)."""
    return fits_on(memory_gb, accel.memory_gb, distributed=False)


def usable_gb(accel: Accelerator) -> float:
    """The largest allocated peak (1e9 bytes) that `fits` this card."""
    return memory_usable_gb(accel.memory_gb, distributed=False)


def _assumptions(cfg: ModelConfig, req: AdaptRequest, method: AdaptMethod) -> list[str]:
    notes = [f"precision {req.precision}: {PRECISION_NOTES[req.precision]}",
             f"attention kernel {req.attention}",
             "gradient checkpointing on (one extra forward)" if req.gradient_checkpointing
             else "no gradient checkpointing",
             f"micro-batch {req.micro_batch} x {req.seq_len} tokens, {req.mfu:.0%} MFU on {req.accelerator}",
             "one AdamW step per micro-batch, bandwidth-bound (counted in GPU-hours)",
             f"fits = memory + {ALLOCATOR_OVERHEAD:.0%} allocator overhead + {CUDA_CONTEXT_BYTES / GIB:g} GiB "
             "CUDA context within the card's capacity (80 GB HBM = 80 GiB)"]
    return notes + method.notes(cfg, req)


def estimate(model: str | ModelConfig, req: AdaptRequest) -> AdaptEstimate:
    """Trainable parameters, peak memory per GPU, FLOPs, GPU-hours and dollars of one method."""
    cfg, method = resolve_model(model), get_method(req.method)
    _validate_shared(req)
    check_context(cfg, req.seq_len)
    method.check(cfg, req)
    accel = get_accelerator(req.accelerator)
    trainable = method.trainable_params(cfg, req)
    total = param_counts(cfg).total + (0 if method.trains_base else trainable)
    memory = method.memory(cfg, req, trainable)
    per_token = method.flops_per_token(cfg, req, trainable)
    train_flops = per_token * req.dataset_tokens * req.epochs if method.trains else 0.0
    optimizer_hours = _optimizer_gpu_hours(req, method, trainable, accel)
    gpu_hours = (flops_to_gpu_hours(train_flops, accel, req.mfu) if train_flops else 0.0) + optimizer_hours
    result = AdaptEstimate(
        method=method.name, model=cfg.name, trainable_params=trainable, total_params=total,
        trainable_percent=100 * trainable / total, memory_gb=memory.total_gb, memory=memory,
        flops_per_token=per_token, train_flops=train_flops, gpu_hours=gpu_hours,
        optimizer_gpu_hours=optimizer_hours, usd=gpu_hours_to_usd(gpu_hours, accel), accelerator=accel.name,
        accelerator_memory_gb=accel.memory_gb, fits_one_gpu=fits(memory.total_gb, accel),
        assumptions=_assumptions(cfg, req, method))
    result.advice = advice.does_not_fit(method.label, cfg.name, result)
    return result


def estimate_all(model: str | ModelConfig, req: AdaptRequest,
                 methods: list[str] | None = None) -> list[AdaptEstimate]:
    """The same knobs for every method (each method ignores knobs that are not its own)."""
    return [estimate(model, req.model_copy(update={"method": name})) for name in methods or method_names()]


def cheapest_fitting(estimates: list[AdaptEstimate]) -> AdaptEstimate | None:
    """The trained method with the lowest dollar cost that fits on one GPU (None if none fits)."""
    fitting = [e for e in estimates if e.fits_one_gpu and get_method(e.method).trains]
    return min(fitting, key=lambda e: (e.usd, e.memory_gb)) if fitting else None


class AdaptComparison(BaseModel):
    """Every method on one base model with the same knobs, and the cheapest trainable one that fits."""

    model: str
    accelerator: str
    estimates: list[AdaptEstimate]
    cheapest_fitting: str | None = Field(description="lowest-cost trained method that fits on one GPU")
    advice: str
    too_big: str = Field("", description="the methods that do not fit on one GPU, and what to try")
    invalid: dict[str, str] = Field(default_factory=dict,
                                    description="methods left out because one of their own knobs is invalid "
                                                "(e.g. LoRA rank 0), with the message")


def _estimate_each(cfg: ModelConfig, req: AdaptRequest,
                   methods: list[str]) -> tuple[list[AdaptEstimate], dict[str, str]]:
    """Every method that its own knobs allow; a knob only some methods use (rank, virtual tokens, LoRA
    targets) leaves the others standing, with the message for those it rules out."""
    estimates, invalid = [], {}
    for name in methods:
        try:
            estimates.append(estimate(cfg, req.model_copy(update={"method": name})))
        except PlannerError as err:
            invalid[name] = str(err)
    if not estimates:
        raise PlannerError("; ".join(dict.fromkeys(invalid.values())))
    return estimates, invalid


def compare(model: str | ModelConfig, req: AdaptRequest, methods: list[str] | None = None) -> AdaptComparison:
    """Every method (or `methods`) with the same knobs. Shared knobs (batch, sequence, MFU, accelerator)
    and unknown names raise; a method-specific bad knob only leaves that method out (`invalid`)."""
    cfg = resolve_model(model)
    methods = [get_method(name).name for name in methods or method_names()]
    _validate_shared(req)
    check_context(cfg, req.seq_len)  # shared by every method: one message, not one per method
    estimates, invalid = _estimate_each(cfg, req, methods)
    best = cheapest_fitting(estimates)
    big = [(get_method(e.method).label, e) for e in estimates if not e.fits_one_gpu]
    return AdaptComparison(model=estimates[0].model, accelerator=estimates[0].accelerator, estimates=estimates,
                           cheapest_fitting=best.method if best else None,
                           advice=advice.cheapest(get_method(best.method).label if best else None, best,
                                                  estimates[0].accelerator, req.gradient_checkpointing),
                           too_big=advice.too_big(big), invalid=invalid)


def model_choices() -> list[str]:
    """Architecture presets first, then the model table's entries that are not presets."""
    keys = set(PRESETS)
    return list(PRESETS) + [m.name for m in catalog() if _key(m.name) not in keys]


def target_choices(model: str | ModelConfig) -> list[str]:
    """LoRA target names for this model (as peft matches them), plus peft's all-linear."""
    return [m.name.split(".")[-1] if m.name.split(".")[-1] != "c_proj" else m.name
            for m in linear_modules(resolve_model(model))] + ["all-linear"]
