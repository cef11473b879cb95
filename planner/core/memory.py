"""Memory per GPU for training (weights, gradients, optimizer state, activations) and inference.

GB = 1e9 bytes in every estimate; accelerator capacities are GiB (an "80 GB" H100 holds 80 x 2^30 = 85.9e9
bytes: see Accelerator.memory_bytes), so every "fits" check, pretraining and adaptation alike, goes through
`fits_on`, which converts, and adds what a real process holds beyond the tensors: the caching allocator's
overhead (ALLOCATOR_OVERHEAD), the CUDA context (CUDA_CONTEXT_BYTES) and, for runs over several GPUs, NCCL's
buffers (NCCL_BUFFER_BYTES).

Training state per parameter follows Rajbhandari et al. 2020 (ZeRO, §3.1): mixed-precision Adam keeps
2 bytes of bf16 weights + 2 of bf16 gradients + 12 of fp32 optimizer state (master weights, m, v) = 16;
ZeRO stage 1/2/3 shards the optimizer state / + gradients / + weights over the N data-parallel GPUs.
Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
Models", §4), adjusted for SwiGLU/GQA blocks, with 16-bit activations and no tensor/sequence parallelism.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field

from planner.core.architecture import ModelConfig, param_counts
from planner.core.numbers import check_positive
from planner.errors import PlannerError

GB = 1e9
GIB = 2.0**30
# What a GPU holds beyond the tensors an estimate counts (torch.cuda.max_memory_allocated). fms-acceleration's
# single-GPU A100 runs (scripts/benchmarks/refs/a100_80gb.csv, PR #14: nvidia_mem_reserved vs
# peak_torch_mem_alloc_in_bytes) show the used memory at 1.07-1.24x the allocated peak; the allocator frees cached
# blocks and retries before it reports out-of-memory, so a fit check adds the smallest observed overhead, 7%.
# The CUDA context with cuBLAS workspaces takes ~0.5 GiB outside the allocator (PyTorch "CUDA semantics" notes);
# NCCL's communicator buffers another ~0.5 GiB per process in a distributed run (an assumption, stated as such).
ALLOCATOR_OVERHEAD = 0.07
CUDA_CONTEXT_BYTES = 0.5 * GIB
NCCL_BUFFER_BYTES = 0.5 * GIB
MAX_GPUS = 4096  # beyond this "how many GPUs" stops being a sizing question

Optimizer = Literal["adam-mixed", "adamw-bf16"]
Sharding = Literal["none", "zero1", "zero2", "zero3", "fsdp"]
Recompute = Literal["none", "selective", "full"]
Attention = Literal["flash", "sdpa", "eager"]
WeightsDtype = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]

# Bytes per parameter: (weights, gradients, optimizer state).
OPTIMIZER_BYTES: dict[str, tuple[float, float, float]] = {
    "adam-mixed": (2, 2, 12),  # bf16 weights and grads; fp32 master copy, Adam m and v (ZeRO §3.1: 16)
    "adamw-bf16": (2, 2, 4),   # everything in bf16, m and v included: 8
}
# Which of (weights, grads, optimizer) each sharding strategy splits over the GPUs.
SHARDED: dict[str, tuple[bool, bool, bool]] = {
    "none": (False, False, False),
    "zero1": (False, False, True),
    "zero2": (False, True, True),
    "zero3": (True, True, True),
    "fsdp": (True, True, True),  # PyTorch FSDP FULL_SHARD is ZeRO-3
}
DTYPE_BYTES: dict[str, float] = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
ACTIVATION_BYTES = 2  # bf16/fp16 activations under mixed precision
LOGIT_BYTES = 4  # the loss upcasts logits to fp32 (Korthikanti eq. for the output layer: 4·s·b·v)
# transformers' unfused causal-LM loss keeps more per logit: the bf16 logits stay in the model output,
# cross-entropy saves its fp32 log-softmax, and its backward holds two fp32 gradients at once (2 + 4 + 4 + 4).
# peft's measured fine-tuning runs match this (benchmarks/bench_adaptation.py); large pretraining stacks fuse it.
HF_LOSS_BYTES_PER_LOGIT = 2 + 4 + 4 + 4


# ---------------------------------------------------------------- activations
def _attention_core_coeff(cfg: ModelConfig) -> float:
    """Bytes per (head · s² · b) that eager attention stores: the T×T score matrices."""
    if cfg.family == "gpt2":
        return 5  # softmax output 2, dropout mask 1, dropout output 2 (Korthikanti §4.1)
    return 6  # no attention dropout; HF eager upcasts softmax to fp32 (4) and the value matmul keeps bf16 (2)


def _layer_linear_coeff(cfg: ModelConfig) -> float:
    """Activation bytes per (s · b · h) of one block, excluding the s² attention scores."""
    ff_ratio = cfg.d_ff / cfg.d_model
    if cfg.family == "gpt2":
        attention = 11  # QKV input 2, Q and K 4, V 2, projection input 2, dropout mask 1
        mlp = 2 + 2 * ff_ratio + 2 * ff_ratio + 1  # fc input, GeLU input, GeLU output, dropout mask (=19 at 4h)
        return attention + mlp + 4  # two LayerNorm inputs
    kv_ratio = cfg.kv_heads / cfg.n_heads  # GQA: K and V are kv_heads·head_dim wide
    attention = 2 + 2 + 4 * kv_ratio + 2  # QKV input, Q, K and V, output-projection input
    # SwiGLU keeps gate output, up output, SiLU output and their product; top-k MoE runs k experts per token.
    mlp = 2 + cfg.experts_per_token * 8 * ff_ratio
    return attention + mlp + 4  # two RMSNorm inputs


def layer_activation_bytes(cfg: ModelConfig, seq_len: int, micro_batch: int,
                           attention: Attention = "flash", keep_scores: bool | None = None) -> float:
    """Bytes one transformer block stores for its backward pass (Korthikanti et al. 2022 eq. 1:
    s·b·h·(34 + 5·a·s/h) for GPT blocks). Fused attention kernels (flash, SDPA) recompute the s×s
    scores in the backward pass, which removes the 5·a·s/h term."""
    s, b, h, a = seq_len, micro_batch, cfg.d_model, cfg.n_heads
    if keep_scores is None:
        keep_scores = attention == "eager"
    scores = _attention_core_coeff(cfg) * a * s / h if keep_scores else 0.0
    return s * b * h * (_layer_linear_coeff(cfg) + scores)


def _head_bytes(cfg: ModelConfig, seq_len: int, micro_batch: int, logit_bytes: float = LOGIT_BYTES) -> float:
    """Final norm and LM-head inputs (2+2 bytes per s·b·h), GPT-2's embedding dropout mask, the loss's logits."""
    sbh = seq_len * micro_batch * cfg.d_model
    embedding_dropout = sbh if cfg.family == "gpt2" else 0
    return 4 * sbh + embedding_dropout + logit_bytes * seq_len * micro_batch * cfg.vocab_size


def activation_bytes(cfg: ModelConfig, seq_len: int, micro_batch: int, recompute: Recompute = "none",
                     attention: Attention = "flash", logit_bytes: float = LOGIT_BYTES) -> float:
    """Peak activation bytes of one micro-batch on one GPU (no tensor or pipeline parallelism).

    - none: every block keeps all its activations.
    - selective: recompute the attention core (Korthikanti §5): no s×s scores even with eager attention.
    - full: keep only each block's input (2·s·b·h), and during the backward pass one block at a time
      holds its recomputed activations again.
    `logit_bytes` per logit of the loss: LOGIT_BYTES for a fused loss, HF_LOSS_BYTES_PER_LOGIT for transformers'.
    """
    check_whole(seq_len=seq_len, micro_batch=micro_batch)
    if recompute not in ("none", "selective", "full"):
        raise PlannerError(f"recompute must be none, selective or full (got {recompute!r})")
    if attention not in ("flash", "sdpa", "eager"):
        raise PlannerError(f"attention must be flash, sdpa or eager (got {attention!r})")
    head = _head_bytes(cfg, seq_len, micro_batch, logit_bytes)
    full_layer = layer_activation_bytes(cfg, seq_len, micro_batch, attention)
    if recompute == "none":
        return cfg.n_layers * full_layer + head
    if recompute == "selective":
        return cfg.n_layers * layer_activation_bytes(cfg, seq_len, micro_batch, attention, keep_scores=False) + head
    checkpoints = cfg.n_layers * ACTIVATION_BYTES * seq_len * micro_batch * cfg.d_model
    return checkpoints + full_layer + head


# ---------------------------------------------------------------- training
class TrainingMemory(BaseModel):
    """Memory on each GPU while training (data parallel over `gpus`, ZeRO/FSDP sharding)."""

    model: str
    params: int
    seq_len: int
    micro_batch: int
    gpus: int
    optimizer: Optimizer
    sharding: Sharding
    recompute: Recompute
    attention: Attention
    weights_gb: float
    grads_gb: float
    optimizer_gb: float
    activations_gb: float
    total_gb: float = Field(description="per GPU: weights + grads + optimizer + activations")
    peak_gb: float = Field(description="total_gb plus allocator fragmentation and the CUDA/NCCL runtime: what must "
                                       "fit the card")
    assumptions: list[str]


def runtime_bytes(distributed: bool = True) -> float:
    """Memory outside the allocator: the CUDA context, and NCCL's buffers when the run spans GPUs."""
    return CUDA_CONTEXT_BYTES + (NCCL_BUFFER_BYTES if distributed else 0.0)


def peak_bytes(tensor_bytes: float, distributed: bool = True) -> float:
    """What a process holds for `tensor_bytes` of tensors: the allocator's overhead and the runtime on top."""
    return tensor_bytes * (1 + ALLOCATOR_OVERHEAD) + runtime_bytes(distributed)


def fits_on(tensor_gb: float, gpu_memory_gb: float, distributed: bool = True) -> bool:
    """Whether `tensor_gb` (1e9-byte GB) of tensors fit a card sold as `gpu_memory_gb` GB (which are GiB)."""
    return peak_bytes(tensor_gb * GB, distributed) <= gpu_memory_gb * GIB


def usable_gb(gpu_memory_gb: float, distributed: bool = True) -> float:
    """The most tensors (1e9-byte GB) that `fits_on` a card of `gpu_memory_gb` GiB: peak_bytes solved for it."""
    return (gpu_memory_gb * GIB - runtime_bytes(distributed)) / (1 + ALLOCATOR_OVERHEAD) / GB


def check_whole(**values) -> None:
    """Each value a positive whole number (sequence lengths, batch sizes, GPU counts); booleans are not."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise PlannerError(f"{name} must be a positive whole number (got {value!r})")


def training_memory(cfg: ModelConfig, seq_len: int, micro_batch: int, gpus: int = 1,
                    optimizer: Optimizer = "adam-mixed", sharding: Sharding = "none",
                    recompute: Recompute = "none", attention: Attention = "flash") -> TrainingMemory:
    check_whole(seq_len=seq_len, micro_batch=micro_batch, gpus=gpus)
    if optimizer not in OPTIMIZER_BYTES:
        raise PlannerError(f"optimizer must be one of {', '.join(OPTIMIZER_BYTES)} (got {optimizer!r})")
    if sharding not in SHARDED:
        raise PlannerError(f"sharding must be one of {', '.join(SHARDED)} (got {sharding!r})")
    params = param_counts(cfg).total  # every expert is stored and trained, not only the active ones
    state = [params * per_param / (gpus if split else 1) / GB
             for per_param, split in zip(OPTIMIZER_BYTES[optimizer], SHARDED[sharding])]
    activations = activation_bytes(cfg, seq_len, micro_batch, recompute, attention) / GB
    total_state = sum(OPTIMIZER_BYTES[optimizer])
    assumptions = [
        f"{optimizer}: {total_state:g} bytes/param before sharding (weights, grads, optimizer = "
        f"{', '.join(f'{x:g}' for x in OPTIMIZER_BYTES[optimizer])})",
        f"{sharding} over {gpus} data-parallel GPU(s); no tensor or pipeline parallelism",
        f"activations in 16-bit, {attention} attention, recompute={recompute}, logits in fp32 for the loss",
        f"peak adds {ALLOCATOR_OVERHEAD:.0%} allocator overhead and {runtime_bytes() / GIB:g} GiB of CUDA "
        "context and NCCL buffers; fits checks compare with the card's GiB",
        "not counted: ZeRO-3 parameter gathers in flight",
    ]
    total = sum(state) + activations
    return TrainingMemory(model=cfg.name, params=params, seq_len=seq_len, micro_batch=micro_batch, gpus=gpus,
                          optimizer=optimizer, sharding=sharding, recompute=recompute, attention=attention,
                          weights_gb=state[0], grads_gb=state[1], optimizer_gb=state[2],
                          activations_gb=activations, total_gb=total, peak_gb=peak_bytes(total * GB) / GB,
                          assumptions=assumptions)


def _fewest(fits, limit: int = MAX_GPUS) -> int | None:
    """Smallest k in 1..limit with fits(k), for a fits() that stays true once true (memory only shrinks)."""
    if not fits(limit):
        return None
    lo, hi = 1, limit
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return lo


def min_gpus_for_training(cfg: ModelConfig, gpu_memory_gb: float, **training_kwargs) -> int | None:
    """Fewest GPUs whose per-GPU training memory fits a `gpu_memory_gb` card (GiB, overheads included: `fits_on`);
    None if even 4096 don't. Sharding defaults to ZeRO-3 here, since only sharded state shrinks with more GPUs."""
    check_positive("GPU memory", gpu_memory_gb, "GB")
    training_kwargs.setdefault("sharding", "zero3")
    training_kwargs.pop("gpus", None)
    return _fewest(lambda k: fits_on(training_memory(cfg, gpus=k, **training_kwargs).total_gb, gpu_memory_gb))


# ---------------------------------------------------------------- inference
class InferenceMemory(BaseModel):
    """Memory to serve one model replica: weights plus the KV cache for `batch` sequences."""

    model: str
    params: int
    weights_dtype: WeightsDtype
    kv_dtype: WeightsDtype
    batch: int
    seq_len: int
    gpus: int
    weights_gb: float
    kv_cache_gb: float
    total_gb: float = Field(description="whole replica")
    per_gpu_gb: float = Field(description="total split evenly over `gpus` (tensor parallel)")
    assumptions: list[str]


def kv_cache_bytes(cfg: ModelConfig, seq_len: int, batch: int, kv_dtype: WeightsDtype = "bf16") -> float:
    """2 (K and V) · layers · kv_heads · head_dim · tokens · batch · bytes: GQA shrinks it by n_heads/kv_heads,
    a sliding window caps the tokens kept (transformers' DynamicSlidingWindowLayer)."""
    tokens = cfg.attended_tokens(seq_len)
    return 2 * cfg.n_layers * cfg.kv_heads * cfg.head_dim * tokens * batch * DTYPE_BYTES[kv_dtype]


def inference_memory(cfg: ModelConfig, weights_dtype: WeightsDtype = "bf16", batch: int = 1,
                     seq_len: int | None = None, gpus: int = 1, kv_dtype: WeightsDtype = "bf16") -> InferenceMemory:
    seq_len = cfg.max_seq_len if seq_len is None else seq_len
    check_whole(batch=batch, seq_len=seq_len, gpus=gpus)
    for name, dtype in (("weights_dtype", weights_dtype), ("kv_dtype", kv_dtype)):
        if dtype not in DTYPE_BYTES:
            raise PlannerError(f"{name} must be one of {', '.join(DTYPE_BYTES)} (got {dtype!r})")
    params = param_counts(cfg).total
    weights = params * DTYPE_BYTES[weights_dtype] / GB
    kv = kv_cache_bytes(cfg, seq_len, batch, kv_dtype) / GB
    assumptions = [
        f"weights in {weights_dtype} ({DTYPE_BYTES[weights_dtype]:g} bytes/param; quantisation scales not counted)",
        f"KV cache in {kv_dtype} for {batch} sequence(s) of {seq_len} tokens"
        + (f" (sliding window keeps the last {cfg.sliding_window})" if cfg.sliding_window else ""),
        "not counted: activations of the forward pass, CUDA context, allocator fragmentation",
    ]
    return InferenceMemory(model=cfg.name, params=params, weights_dtype=weights_dtype, kv_dtype=kv_dtype,
                           batch=batch, seq_len=seq_len, gpus=gpus, weights_gb=weights, kv_cache_gb=kv,
                           total_gb=weights + kv, per_gpu_gb=(weights + kv) / gpus, assumptions=assumptions)


def min_gpus_for_inference(cfg: ModelConfig, gpu_memory_gb: float, **inference_kwargs) -> int | None:
    """Fewest GPUs that hold one replica split evenly (tensor parallel); None if even 4096 don't."""
    check_positive("GPU memory", gpu_memory_gb, "GB")
    inference_kwargs.pop("gpus", None)
    total = peak_bytes(inference_memory(cfg, **inference_kwargs).total_gb * GB)
    gpus = max(1, math.ceil(total / (gpu_memory_gb * GIB)))
    return gpus if gpus <= MAX_GPUS else None
