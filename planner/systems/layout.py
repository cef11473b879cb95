"""Search tensor x pipeline x data (x expert) parallel layouts, ZeRO stage, micro-batch and recomputation for
the one that fits memory with the highest predicted throughput (planner.systems.throughput).

Memory per GPU follows planner.core.memory with the layout's splits: weights, gradients and Adam state of the
GPU's stage (/tp, /pp, experts /ep), sharded over dp by the ZeRO stage; activations per layer / tp (Megatron
sequence parallelism, Korthikanti et al. 2022 §4.2.2) for the micro-batches 1F1B keeps in flight on the first
stage (min(m, p) of them, each with L/p layers: Narayanan et al. 2021 §2.2.1), plus the fp32 logits.
"""
from __future__ import annotations

import itertools
import math
from functools import cache
from operator import itemgetter
from typing import Callable

from pydantic import BaseModel, Field

from planner.core.architecture import ModelConfig, get_preset
from planner.core.budget import DEFAULT_ACCELERATOR
from planner.core.hardware import Accelerator, get_accelerator
from planner.core.memory import (ACTIVATION_BYTES, ALLOCATOR_OVERHEAD, GB, GIB, HF_LOSS_BYTES_PER_LOGIT,
                                 OPTIMIZER_BYTES, check_whole, fits_on, layer_activation_bytes, peak_bytes,
                                 runtime_bytes, usable_gb)
from planner.errors import PlannerError
from planner.systems.throughput import (Layout, SpeedModel, Throughput, TimeBreakdown, local_params,
                                        recomputed_layers, step_time)

DEFAULT_BATCH_TOKENS = 4 * 2**20  # 4M tokens: Llama 2's batch (Touvron et al. 2023, §2.2)
BATCH_TOKENS_STEP = 2**20  # the Plan page steps the global batch by 1M tokens
MICRO_BATCHES = (1, 2, 4, 8, 16)
# The search leaves out what the model says can never win: ZeRO-0 and -1 move the same gradient bytes as ZeRO-2
# and hold more (so with data parallelism only ZeRO-2 and -3 are tried, and ZeRO-0 without it, where all stages
# are one), and selective recomputation of the attention core saves nothing under flash attention (which the
# memory model assumes) while costing an extra attention forward. step_time still takes every stage and kind.
SEARCHED_ZERO = (2, 3)
SEARCHED_RECOMPUTE = ("none", "full")
INTERLEAVE = (1, 2, 4)  # model chunks per stage; uneven splits allowed, as Llama 3 ran 126 layers on 16 stages
SHOWN_ALTERNATIVES = 12


class LayoutResult(BaseModel):
    """One evaluated layout: its memory, its predicted speed, and for the losers why they lost."""

    tp: int
    pp: int
    dp: int
    ep: int
    zero_stage: int
    micro_batch: int
    recompute: str
    recompute_layers: int = Field(0, description="recompute 'partial': layers per stage recomputed whole")
    interleave: int = Field(1, description="model chunks per pipeline stage (interleaved 1F1B)")
    memory_gb: float = Field(description="per GPU, 1e9-byte GB, tensors only (see peak_gb)")
    peak_gb: float = Field(description="memory_gb plus allocator fragmentation and CUDA/NCCL runtime")
    fits: bool
    mfu: float
    tokens_per_s_per_gpu: float
    step_seconds: float
    microbatches: int
    breakdown: TimeBreakdown
    why_not: str = ""


class ParallelPlan(LayoutResult):
    """The best layout for a model on `gpus` accelerators, and the ranked alternatives."""

    model: str
    gpu: str
    gpus: int
    seq_len: int
    global_batch_tokens: int = Field(description="tokens per step as run")
    gpu_memory_gb: float = Field(description="the card's capacity as sold (GiB)")
    alternatives: list[LayoutResult]
    layouts_searched: int
    layouts_fitting: int
    assumptions: list[str]


def layout_summary(plan: LayoutResult) -> str:
    """One line: TP x PP x DP (EP, chunks), ZeRO stage, micro-batch, recomputation."""
    return (f"TP{plan.tp} x PP{plan.pp} x DP{plan.dp}" + (f" (EP{plan.ep})" if plan.ep > 1 else "")
            + (f", {plan.interleave} chunks/stage" if plan.interleave > 1 else "")
            + f", ZeRO-{plan.zero_stage}, micro-batch {plan.micro_batch}, recompute {recompute_label(plan)}")


def recompute_label(plan: LayoutResult) -> str:
    """none / selective / full, or 'k layers/stage' for partial recomputation."""
    return f"{plan.recompute_layers} layers/stage" if plan.recompute == "partial" else plan.recompute


def layout_memory_gb(cfg: ModelConfig, seq_len: int, lay: Layout, microbatches: int,
                     loss_bytes_per_logit: float = HF_LOSS_BYTES_PER_LOGIT) -> float:
    """Tensor memory per GPU (GB) of the first pipeline stage, the fullest one under 1F1B. The loss defaults to
    an unfused cross-entropy on fp32 logits (bf16 logits, fp32 copy, log-softmax, gradient: 14 bytes per logit),
    as torchtitan and transformers compute it; fused kernels (Megatron) need 4 (memory.LOGIT_BYTES)."""
    return layout_memory_model(cfg, seq_len, loss_bytes_per_logit)(lay, microbatches)


def layout_memory_model(cfg: ModelConfig, seq_len: int, loss_bytes_per_logit: float = HF_LOSS_BYTES_PER_LOGIT
                        ) -> Callable[[Layout, int], float]:
    """`layout_memory_gb` of one model as a function of (layout, micro-batches). What depends on the model and a
    few degrees only (a stage's parameters, a layer's activations per micro-batch size) is computed once per
    value: the search evaluates thousands of layouts, and each lookup would otherwise hash the model's config."""
    stage_params = cache(lambda tp, pp, ep: local_params(cfg, Layout(tp=tp, pp=pp, dp=1, ep=ep)))
    layer_bytes = cache(lambda micro_batch: layer_activation_bytes(cfg, seq_len, micro_batch))
    weight_bytes, grad_bytes, optimizer_bytes = OPTIMIZER_BYTES["adam-mixed"]

    def memory_gb(lay: Layout, microbatches: int) -> float:
        params = stage_params(lay.tp, lay.pp, lay.ep)
        weights, grads, optimizer = params * weight_bytes, params * grad_bytes, params * optimizer_bytes
        if lay.zero_stage >= 1:
            optimizer /= lay.dp
        if lay.zero_stage >= 2:
            grads /= lay.dp
        if lay.zero_stage >= 3:
            weights /= lay.dp
        layers = math.ceil(cfg.n_layers / lay.pp)
        # Interleaving keeps activations of L (1 + (p-1)/(p v)) layers on the first stage (Korthikanti 2022 §4.2.3).
        extra = (lay.pp - 1) / (lay.pp * lay.interleave) if lay.interleave > 1 else 0.0
        in_flight = min(microbatches, lay.pp) * (1 + extra)
        full_layer = layer_bytes(lay.micro_batch) / lay.tp
        recomputed = recomputed_layers(lay, layers)
        if recomputed:
            # a recomputed layer keeps its input only; in the backward pass one of them at a time is whole again
            kept = ACTIVATION_BYTES * seq_len * lay.micro_batch * cfg.d_model / lay.tp
            activations = in_flight * (recomputed * kept + (layers - recomputed) * full_layer) + full_layer
        else:
            activations = in_flight * layers * full_layer
        logits = loss_bytes_per_logit * seq_len * lay.micro_batch * cfg.vocab_size / lay.tp  # vocab-parallel loss
        return (weights + grads + optimizer + activations + logits) / GB

    return memory_gb


def _degrees(n: int, limit: int) -> list[int]:
    return [k for k in range(1, min(n, limit) + 1) if n % k == 0]


def candidate_layouts(cfg: ModelConfig, gpus: int) -> list[Layout]:
    """Every layout worth evaluating: tp divides the heads and stays within 2 nodes, pp at most the layers,
    ep divides the experts and dp; ZeRO stages and recomputation as SEARCHED_ZERO / SEARCHED_RECOMPUTE say."""
    found = []
    for tp in _degrees(gpus, 16):
        if cfg.n_heads % tp or cfg.kv_heads % tp and tp > cfg.kv_heads:
            continue
        for pp in _degrees(gpus // tp, cfg.n_layers):
            dp = gpus // (tp * pp)
            eps = [e for e in _degrees(dp, cfg.n_experts) if cfg.n_experts % e == 0] if cfg.n_experts > 1 else [1]
            chunks = [v for v in INTERLEAVE if v == 1 or math.ceil(cfg.n_layers / pp) >= v] if pp > 1 else [1]
            zeros = SEARCHED_ZERO if dp > 1 else (0,)
            for ep, zero, mb, rc, v in itertools.product(eps, zeros, MICRO_BATCHES, SEARCHED_RECOMPUTE, chunks):
                found.append(Layout(tp=tp, pp=pp, dp=dp, ep=ep, zero_stage=zero, micro_batch=mb, recompute=rc,
                                    interleave=v))
    return found


def _fewest_recomputed(lay: Layout, layers: int, memory_of: Callable[[Layout], float],
                       acc: Accelerator) -> list[tuple[float, Layout]]:
    """`lay` with the fewest of its stage's layers recomputed that fits; nothing when no partial count fits or
    all of them are needed (that is "full", searched anyway). Memory falls by the same amount with every layer
    recomputed (layout_memory_model), so two evaluations give the count; a third checks it."""
    def at(k: int) -> Layout:  # lay._replace(...), at a third of its cost
        return Layout(lay.tp, lay.pp, lay.dp, lay.ep, lay.zero_stage, lay.micro_batch, "partial", lay.interleave, k)

    most = layers - 1
    if most < 1:
        return []
    most_memory = memory_of(at(most))
    if not fits_on(most_memory, acc.memory_gb):
        return []
    fewest_memory = memory_of(at(1))
    if fits_on(fewest_memory, acc.memory_gb):
        return [(fewest_memory, at(1))]
    saved_per_layer = (fewest_memory - most_memory) / (most - 1)
    k = min(most, 1 + math.ceil((fewest_memory - usable_gb(acc.memory_gb)) / saved_per_layer - 1e-9))
    memory = memory_of(at(k))
    while k < most and not fits_on(memory, acc.memory_gb):  # rounding at the boundary: one more layer
        k += 1
        memory = memory_of(at(k))
    return [(memory, at(k))]


def _fastest(speed_of: SpeedModel, fit_layouts: list[tuple[float, Layout]]) -> list[tuple[float, float, Layout]]:
    """The SHOWN_ALTERNATIVES fastest of `fit_layouts` ((memory, layout) pairs) as (-speed rounded to 0.001,
    memory, layout), fastest first, ties to the smaller memory. Branch and bound: layouts are timed in order of
    their speed ceiling (SpeedModel.ceiling, a third of a timing's cost), and once a ceiling is below the slowest
    of the ones kept, no later layout can enter."""
    bounded = sorted(((speed_of.ceiling(lay), memory, lay) for memory, lay in fit_layouts), key=itemgetter(0),
                     reverse=True)
    kept: list[tuple[float, float, Layout]] = []
    for ceiling, memory, lay in bounded:
        # a speed below the ceiling by 1e-3 rounds strictly below the slowest kept: it cannot tie or enter
        if len(kept) == SHOWN_ALTERNATIVES and ceiling < -kept[-1][0] - 1e-3:
            break
        kept.append((-round(speed_of(lay), 3), memory, lay))
        kept.sort(key=itemgetter(0, 1))
        del kept[SHOWN_ALTERNATIVES:]
    return kept


def evaluate(cfg: ModelConfig, gpu: str | Accelerator, seq_len: int, global_batch: int, lay: Layout) -> LayoutResult:
    acc = get_accelerator(gpu)
    speed: Throughput = step_time(cfg, acc, seq_len, global_batch, lay)
    memory = layout_memory_gb(cfg, seq_len, lay, speed.microbatches)
    return LayoutResult(tp=lay.tp, pp=lay.pp, dp=lay.dp, ep=lay.ep, zero_stage=lay.zero_stage,
                        micro_batch=lay.micro_batch, recompute=lay.recompute, interleave=lay.interleave,
                        recompute_layers=lay.recompute_layers,
                        memory_gb=memory,
                        peak_gb=peak_bytes(memory * GB) / GB, fits=fits_on(memory, acc.memory_gb),
                        mfu=speed.mfu, tokens_per_s_per_gpu=speed.tokens_per_s_per_gpu,
                        step_seconds=speed.step_seconds, microbatches=speed.microbatches, breakdown=speed.breakdown)


def why_it_lost(loser: LayoutResult, best: LayoutResult, capacity_gb: float) -> str:
    """The main reason a layout is slower than the best, from the biggest gap in their time breakdowns."""
    if not loser.fits:
        return f"does not fit: {loser.peak_gb:.1f} GB per GPU > {capacity_gb:.1f} GB"
    if loser.tokens_per_s_per_gpu >= best.tokens_per_s_per_gpu * 0.999:
        return f"as fast ({loser.mfu:.1%} MFU) but needs more memory ({loser.memory_gb:.1f} GB)"
    a, b = loser.breakdown, best.breakdown
    gaps = {"pipeline bubble": a.bubble_s / loser.step_seconds - b.bubble_s / best.step_seconds,
            "communication bound": a.communication_s / loser.step_seconds - b.communication_s / best.step_seconds,
            "memory-bound ops": a.memory_s / loser.step_seconds - b.memory_s / best.step_seconds,
            "recomputation / narrower matmuls": a.compute_s / loser.step_seconds - b.compute_s / best.step_seconds}
    reason = max(gaps, key=gaps.get)
    return f"{reason} ({loser.mfu:.1%} MFU vs {best.mfu:.1%})"


def _check(gpus: int, seq_len: int, batch_tokens: int) -> None:
    check_whole(gpus=gpus, seq=seq_len, **{"global batch tokens": batch_tokens})
    if batch_tokens < seq_len:
        raise PlannerError(f"the global batch ({batch_tokens:,} tokens) is shorter than one sequence ({seq_len:,})")


def search_layouts(model: str | ModelConfig, gpus: int, gpu: str | Accelerator = DEFAULT_ACCELERATOR,
                   seq_len: int = 4096, global_batch_tokens: int | None = None) -> ParallelPlan:
    """The fastest layout that fits, and the others ranked (fitting ones by speed, then the ones that don't).
    `gpu` may be an Accelerator with edited bandwidths or efficiency (the Plan page's overrides)."""
    cfg = get_preset(model) if isinstance(model, str) else model
    batch_tokens = DEFAULT_BATCH_TOKENS if global_batch_tokens is None else global_batch_tokens
    _check(gpus, seq_len, batch_tokens)
    acc = get_accelerator(gpu)
    global_batch = max(1, batch_tokens // seq_len)
    # A layout whose replicas x micro-batch exceed the batch would run a bigger batch than asked for.
    layouts = [lay for lay in candidate_layouts(cfg, gpus) if lay.dp * lay.micro_batch <= global_batch]
    if not layouts:
        raise PlannerError(f"a global batch of {global_batch} sequence(s) cannot keep {gpus} GPUs busy with "
                           f"{cfg.n_layers} layers and {cfg.n_heads} heads: give more tokens per step "
                           "(--global-batch-tokens) or use fewer GPUs")
    # Memory first (cheap arithmetic); the speed model runs only for layouts that fit, plus the few smallest
    # that do not (shown as alternatives): a 512-GPU search then costs tens of ms, not hundreds.
    memory_of, fit_layouts, too_big = layout_memory_model(cfg, seq_len), [], []
    for lay in layouts:
        microbatches = max(1, math.ceil(global_batch / (lay.dp * lay.micro_batch)))
        memory = memory_of(lay, microbatches)
        fits = fits_on(memory, acc.memory_gb)
        (fit_layouts if fits else too_big).append((memory, lay))
        if not fits and lay.recompute == "none":  # recompute as few layers as it takes to fit
            fit_layouts.extend(_fewest_recomputed(lay, math.ceil(cfg.n_layers / lay.pp),
                                                  lambda candidate: memory_of(candidate, microbatches), acc))
    ranked = _fastest(SpeedModel(cfg, acc, seq_len, global_batch), fit_layouts)
    smallest_too_big = sorted(too_big, key=itemgetter(0))[:3]
    shown = [lay for _, _, lay in ranked] + [lay for _, lay in smallest_too_big]  # ranked: the fastest few
    results = [evaluate(cfg, acc, seq_len, global_batch, lay) for lay in shown]
    fitting = sorted((r for r in results if r.fits), key=lambda r: (-round(r.tokens_per_s_per_gpu, 3), r.memory_gb))
    if not fitting:
        smallest = min(results, key=lambda r: r.peak_gb)
        raise PlannerError(f"{cfg.name} does not fit on {gpus} x {acc.name} in any layout (smallest: "
                           f"{smallest.peak_gb:.1f} GB per GPU > {acc.memory_bytes / GB:.1f} GB); use more GPUs")
    best = fitting[0]
    losers = fitting[1:SHOWN_ALTERNATIVES] + sorted((r for r in results if not r.fits), key=lambda r: r.peak_gb)[:3]
    capacity = acc.memory_bytes / GB
    alternatives = [r.model_copy(update={"why_not": why_it_lost(r, best, capacity)}) for r in losers]
    return ParallelPlan(**best.model_dump(), model=cfg.name, gpu=acc.name, gpus=gpus, seq_len=seq_len,
                        global_batch_tokens=best.microbatches * best.dp * best.micro_batch * seq_len,
                        gpu_memory_gb=acc.memory_gb, alternatives=alternatives, layouts_searched=len(layouts),
                        layouts_fitting=len(fit_layouts), assumptions=[
                            "mixed-precision Adam (16 bytes/param before sharding), bf16 activations, flash attention",
                            "1F1B pipeline schedule (interleaved when `interleave` > 1); tensor parallel with "
                            "sequence parallelism",
                            f"memory fits when tensors x {1 + ALLOCATOR_OVERHEAD:g} + {runtime_bytes() / GIB:g} GiB "
                            f"runtime <= {acc.memory_gb:g} GiB "
                            f"({capacity:.1f} GB)",
                            "MFU model: calibrated on data/published_runs.csv; held-out error in RESULTS.md"])
