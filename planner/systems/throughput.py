"""Step time, tokens/s and MFU of one parallel layout: a roofline-style model with a few calibrated constants.

Per micro-batch on the slowest pipeline stage the time is
  matmuls at the accelerator's measured matmul efficiency (MAMF / peak, data/gpus.csv), lower for narrow
  matmuls (width d_model / tp), attention at a further fraction of that, memory-bound element-wise ops
  (norms, activations, residuals, the fp32 loss) at HBM bandwidth, and tensor-parallel collectives over
  NVLink (Megatron: 4 all-reduce-sized collectives per layer, 6 with full recomputation; Narayanan et al.
  2021 §3.2, Korthikanti et al. 2022 §4.2), expert all-to-alls and pipeline sends.
A step runs m + p - 1 micro-batch slots on p stages (1F1B: bubble share (p-1)/(m+p-1), Narayanan 2021 §2.2);
the interleaved schedule with v model chunks per stage cuts the bubble to (p-1)/v slots for v times the
pipeline sends (Narayanan 2021 §2.2.2; it needs m to be a multiple of p, else the plain schedule runs);
data-parallel gradient collectives (ZeRO-3/FSDP: parameter all-gathers too, every micro-batch) run over the
inter-node fabric and hide behind compute where they can. Full recomputation costs one extra forward pass
(x4/3 of the matmuls), recomputing k of a stage's L layers k/L of that, selective recomputation one extra
attention-core forward (Korthikanti 2022 §5).

The constants below were fitted on the calibration rows of data/published_runs.csv by
`python benchmarks/bench_systems.py --calibrate`; the held-out rows measure how far to trust the result.
"""
from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

from pydantic import BaseModel, Field

from planner.core.architecture import ModelConfig, flops_per_token, param_counts
from planner.core.hardware import Accelerator
from planner.errors import PlannerError

# --- calibrated constants (benchmarks/bench_systems.py --calibrate; see RESULTS.md) -----------------------
# Fitted by grid search (mean |error| 3.7 MFU points on the 18 calibration rows; held-out: RESULTS.md).
SIZE_KNEE = 384.0           # matmul width (d_model / tp) at which a GEMM runs at half its large-size efficiency
ATTENTION_EFFICIENCY = 1.0  # flash attention forward + backward, as a share of the matmul efficiency
ELEMENTWISE_BYTES = 120.0   # HBM bytes per token, layer and unit of width moved by memory-bound ops (bf16)
OVERHEAD = 0.08             # launch gaps, data loading, logging: a share of the step not otherwise modelled

BF16_BYTES = 2
LOSS_BYTES_PER_LOGIT = 12  # the fp32 logits are written, read by the softmax and their gradient written: 3 x 4
OPTIMIZER_BYTES_PER_PARAM = 32  # Adam step reads and writes fp32 master, m, v and the gradient (2 x 16)
RECOMPUTE_KINDS = ("none", "selective", "partial", "full")


class Layout(NamedTuple):
    """One way to spread a training step over GPUs (dp = data-parallel replicas, ep divides dp).

    A NamedTuple, not a frozen dataclass: the layout search builds, hashes and compares thousands per plan, and
    a tuple does that in C."""

    tp: int
    pp: int
    dp: int
    ep: int = 1
    zero_stage: int = 1
    micro_batch: int = 1
    recompute: str = "none"
    interleave: int = 1  # model chunks per pipeline stage (interleaved 1F1B); 1 = plain 1F1B
    # recompute "partial": how many of a stage's layers are recomputed whole, the others keep all their activations
    # (Megatron's --recompute-num-layers; torchtitan's every-k-th-layer checkpointing)
    recompute_layers: int = 0

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


def recomputed_layers(lay: Layout, layers: int) -> int:
    """How many of a stage's `layers` are recomputed whole in the backward pass."""
    if lay.recompute not in RECOMPUTE_KINDS:
        raise PlannerError(f"recompute must be one of {', '.join(RECOMPUTE_KINDS)} (got {lay.recompute!r})")
    if lay.recompute == "partial" and not 0 < lay.recompute_layers <= layers:
        raise PlannerError(f"partial recomputation needs 1 to {layers} layers per stage (got {lay.recompute_layers})")
    return layers if lay.recompute == "full" else lay.recompute_layers if lay.recompute == "partial" else 0


class TimeBreakdown(BaseModel):
    """Where one training step's wall-clock goes on the slowest GPU, seconds."""

    compute_s: float = Field(description="matmuls and attention, recomputation included")
    memory_s: float = Field(description="memory-bound element-wise ops, the loss and the optimizer step")
    communication_s: float = Field(description="tensor/expert/pipeline collectives and exposed data-parallel ones")
    bubble_s: float = Field(description="pipeline fill and drain: (p-1) idle micro-batch slots")
    overhead_s: float = Field(description="launch gaps, data loading: the calibrated OVERHEAD share")


class Throughput(BaseModel):
    step_seconds: float
    tokens_per_s_per_gpu: float
    mfu: float = Field(description="model FLOPs (6N + attention, no recomputation) / (time x GPUs x dense peak)")
    microbatches: int = Field(description="micro-batches per step on each pipeline")
    global_batch: int = Field(description="sequences per step as run (a multiple of dp x micro-batch)")
    breakdown: TimeBreakdown


def _ring(n: int) -> float:
    """Bytes each GPU sends per byte of an all-reduce over n GPUs, halved: a reduce-scatter or all-gather."""
    return (n - 1) / n


def _bandwidth(acc: Accelerator, span: int) -> float:
    """Bytes/s for a collective over `span` consecutive GPUs: the node fabric if they share a node."""
    return (acc.intra_node_gbs if span <= acc.node_size else acc.inter_node_gbs) * 1e9


def _dp_bandwidth(acc: Accelerator, lay: Layout) -> float:
    """Bytes/s per GPU of a data-parallel ring that spans nodes. Megatron orders ranks tp-dp-pp, so a DP group
    has node_size / tp members on each node; NCCL runs one ring per NIC and splits each collective over them
    through NVLink, so the group's rings share those members' NICs (NVIDIA/nccl#601: "we can use NVLink to
    split the operations in N parts then balance the traffic onto the N NICs"; two HGX H100 nodes reach
    ~360 GB/s bus bandwidth with 8 x 400 Gb/s, NVIDIA/nccl#1277). With tp >= node_size it is one NIC per GPU."""
    if lay.gpus <= acc.node_size:
        return _bandwidth(acc, lay.gpus)
    members_per_node = max(1, min(lay.dp, acc.node_size // lay.tp))
    return min(acc.intra_node_gbs, acc.inter_node_gbs * members_per_node) * 1e9


def _matmul_rate(acc: Accelerator, width: float) -> float:
    return acc.peak_flops * acc.matmul_efficiency * width / (width + SIZE_KNEE)


def _stage_flops(cfg: ModelConfig, seq_len: int, pp: int) -> tuple[float, float]:
    """(matmul, attention) FLOPs per token on the slowest stage: its share of the layers plus the LM head."""
    fpt = flops_per_token(cfg, seq_len)
    head = 6.0 * cfg.d_model * cfg.vocab_size
    layers = math.ceil(cfg.n_layers / pp)
    dense = (fpt.dense - head) * layers / cfg.n_layers + head
    return dense, fpt.attention * layers / cfg.n_layers


def _micro_times(cfg: ModelConfig, acc: Accelerator, seq_len: int, lay: Layout) -> dict[str, float]:
    """Seconds one micro-batch spends in each kind of work on the slowest stage."""
    tokens = seq_len * lay.micro_batch
    dense, attention = _stage_flops(cfg, seq_len, lay.pp)
    layers = math.ceil(cfg.n_layers / lay.pp)
    share = recomputed_layers(lay, layers) / layers  # of the stage's layers, each one more forward pass
    extra = (1 + share / 3, 4 / 3 if lay.recompute == "selective" else 1 + share / 3)
    compute = tokens / lay.tp * (dense * extra[0] / _matmul_rate(acc, cfg.d_model / lay.tp)
                                 + attention * extra[1] / (_matmul_rate(acc, 1e9) * ATTENTION_EFFICIENCY))
    width = cfg.d_model + cfg.d_ff * cfg.experts_per_token
    elementwise = ELEMENTWISE_BYTES * width * layers * extra[0] + LOSS_BYTES_PER_LOGIT * cfg.vocab_size
    memory = tokens * elementwise / lay.tp / (acc.bandwidth_tbs * 1e12)
    activation = tokens * cfg.d_model * BF16_BYTES
    comm = 0.0
    if lay.tp > 1:
        per_layer = 4 + 2 * share  # a recomputed layer repeats its forward all-gather and reduce-scatter
        comm += per_layer * layers * 2 * _ring(lay.tp) * activation / _bandwidth(acc, lay.tp)
    if lay.ep > 1:
        comm += 4 * layers * _ring(lay.ep) * activation * cfg.experts_per_token / lay.tp \
            / _bandwidth(acc, lay.tp * lay.ep)
    if lay.pp > 1:
        comm += 2 * lay.interleave * activation / lay.tp / _bandwidth(acc, lay.tp * lay.pp)
    return {"compute": compute, "memory": memory, "communication": comm}


def local_params(cfg: ModelConfig, lay: Layout) -> float:
    """Parameters one GPU holds before ZeRO sharding: its stage's share, experts split over ep."""
    counts = param_counts(cfg)
    experts = counts.total - counts.active if cfg.n_experts > 1 else 0.0
    expert_share = experts * cfg.n_experts / (cfg.n_experts - cfg.experts_per_token) if experts else 0.0
    dense = counts.total - expert_share
    return (dense + expert_share / lay.ep) / (lay.tp * lay.pp)


def _dp_seconds(params: float, acc: Accelerator, lay: Layout, microbatches: int) -> float:
    """Data-parallel traffic per step for a GPU holding `params` (local_params): gradient all-reduce (ZeRO 0-2:
    reduce-scatter + all-gather, the same bytes), and for ZeRO-3/FSDP two parameter all-gathers and a
    reduce-scatter every micro-batch."""
    if lay.dp == 1:
        return 0.0
    grad_bytes = params * BF16_BYTES
    collectives = 3 * microbatches if lay.zero_stage == 3 else 2
    return collectives * _ring(lay.dp) * grad_bytes / _dp_bandwidth(acc, lay)


class SpeedModel:
    """Predicted tokens/s per GPU of one model as a function of the layout (`model(layout)`), without building
    step_time's typed result, for the search that ranks thousands: a micro-batch's times do not depend on dp or
    the ZeRO stage, and a stage's parameters only on tp, pp and ep, so each is computed once per value (each
    computation would otherwise hash the model's config)."""

    def __init__(self, cfg: ModelConfig, acc: Accelerator, seq_len: int, global_batch: int):
        self.cfg, self.acc, self.seq_len, self.global_batch = cfg, acc, seq_len, global_batch
        self._micro_times = cache(lambda tp, pp, ep, micro_batch, recompute, interleave: _micro_times(
            cfg, acc, seq_len, Layout(tp=tp, pp=pp, dp=1, ep=ep, micro_batch=micro_batch, recompute=recompute,
                                      interleave=interleave)))
        self._stage_params = cache(lambda tp, pp, ep: local_params(cfg, Layout(tp=tp, pp=pp, dp=1, ep=ep)))

    def times(self, lay: Layout) -> dict[str, float]:
        """One micro-batch's times (_micro_times). Every part is linear in the share of layers recomputed, so
        partial layouts interpolate between none and full instead of computing each count anew."""
        if lay.recompute != "partial":
            return self._micro_times(lay.tp, lay.pp, lay.ep, lay.micro_batch, lay.recompute, lay.interleave)
        none, full = (self._micro_times(lay.tp, lay.pp, lay.ep, lay.micro_batch, kind, lay.interleave)
                      for kind in ("none", "full"))
        share = lay.recompute_layers / math.ceil(self.cfg.n_layers / lay.pp)
        return {part: none[part] + share * (full[part] - none[part]) for part in none}

    def __call__(self, lay: Layout) -> float:
        m, step, _ = _step(self.acc, self.global_batch, lay, self.times(lay),
                           self._stage_params(lay.tp, lay.pp, lay.ep))
        return m * lay.dp * lay.micro_batch * self.seq_len / step / lay.gpus

    def ceiling(self, lay: Layout) -> float:
        """An upper bound on the speed of `lay` at a third of its cost: every micro-batch slot busy with its own
        work, no bubble, exposed traffic or optimizer step (the overhead share still applies, _step)."""
        micro = sum(self.times(lay).values())
        return lay.dp * lay.micro_batch * self.seq_len / (micro * (1 + OVERHEAD)) / lay.gpus


def _step(acc: Accelerator, global_batch: int, lay: Layout, t: dict[str, float], params: float):
    """(micro-batches, step seconds, the parts of the step) of `lay`, from one micro-batch's times `t`
    (_micro_times) and the parameters one GPU holds (local_params)."""
    m = max(1, math.ceil(global_batch / (lay.dp * lay.micro_batch)))
    micro = sum(t.values())
    dp = _dp_seconds(params, acc, lay, m)
    # Gradient buckets overlap the backward pass: only what outlasts the compute of the step shows.
    exposed = max(0.0, dp - m * t["compute"]) if lay.zero_stage == 3 else max(0.0, dp - t["compute"])
    shard = lay.dp if lay.zero_stage >= 1 else 1
    optimizer = params / shard * OPTIMIZER_BYTES_PER_PARAM / (acc.bandwidth_tbs * 1e12)
    interleaved = lay.interleave if m % lay.pp == 0 else 1
    bubble = (lay.pp - 1) / interleaved * micro
    busy = m * micro + bubble + exposed + optimizer
    overhead = OVERHEAD * busy
    return m, busy + overhead, (t, exposed, optimizer, bubble, overhead)


def step_time(cfg: ModelConfig, acc: Accelerator, seq_len: int, global_batch: int, lay: Layout) -> Throughput:
    """Predicted step time and MFU of `lay` for a global batch of `global_batch` sequences."""
    t = _micro_times(cfg, acc, seq_len, lay)
    m, step, (t, exposed, optimizer, bubble, overhead) = _step(acc, global_batch, lay, t, local_params(cfg, lay))
    tokens = m * lay.dp * lay.micro_batch * seq_len
    model_flops = flops_per_token(cfg, seq_len).total * tokens
    return Throughput(
        step_seconds=step, tokens_per_s_per_gpu=tokens / step / lay.gpus,
        mfu=model_flops / (step * lay.gpus * acc.peak_flops), microbatches=m,
        global_batch=m * lay.dp * lay.micro_batch,
        breakdown=TimeBreakdown(compute_s=m * t["compute"], memory_s=m * t["memory"] + optimizer,
                                communication_s=m * t["communication"] + exposed, bubble_s=bubble,
                                overhead_s=overhead))
