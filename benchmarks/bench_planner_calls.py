"""Latency of the planner calls behind the dashboard (the whole Plan-page computation included) (issue #2: every call under 50 ms), plus one accuracy
check of the memory model against a measured run.

Run: .venv/bin/python benchmarks/bench_planner_calls.py   (prints a markdown table)
"""
from __future__ import annotations

import csv
import datetime
import itertools
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.core import budget, laws
from planner import plan  # noqa: E402
from planner.core.architecture import flops_per_token, get_preset, param_counts, suggest_shape  # noqa: E402
from planner.recipe import claims, hparams, inference, overtrain, vision  # noqa: E402
from planner.core.memory import (inference_memory, min_gpus_for_inference, min_gpus_for_training,  # noqa: E402
                            training_memory)

REPEATS = 200
LIMIT_MS = 50
PEFT_CSV = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "peft_method_comparison_llama32_3b.csv"

llama70, mixtral = get_preset("llama-2-70b"), get_preset("mixtral-8x7b")
PLAN_REQUEST = plan.PlanRequest(budget=budget.BudgetRequest(gpus=512, days=30),
                                laws=["hoffmann2022-approach1", "besiroglu2024", "kaplan2020"])
CALLS = {
    "param_counts(mixtral-8x7b)": lambda: param_counts(mixtral),
    "flops_per_token(llama-2-70b, 4096)": lambda: flops_per_token(llama70, 4096),
    # suggest_shape is cached per request: time the search itself (__wrapped__), not a cache hit.
    "suggest_shape(1e5, vocab 256)": lambda: suggest_shape.__wrapped__(1e5, vocab_size=256),
    "suggest_shape(7e10)": lambda: suggest_shape.__wrapped__(7e10),
    "suggest_shape(1e12, vocab 128256)": lambda: suggest_shape.__wrapped__(1e12, vocab_size=128256),
    "training_memory(llama-2-70b, zero3, 64 GPUs)": lambda: training_memory(llama70, 4096, 1, gpus=64,
                                                                            sharding="zero3"),
    "inference_memory(llama-2-70b, int4)": lambda: inference_memory(llama70, "int4", batch=8, seq_len=4096),
    "min_gpus_for_training(llama-2-70b, 80 GB, full recompute)": lambda: min_gpus_for_training(
        llama70, 80, seq_len=4096, micro_batch=1, recompute="full"),
    "min_gpus_for_inference(llama-2-70b, 80 GB)": lambda: min_gpus_for_inference(llama70, 80, seq_len=4096),
    "laws.get_law(hoffmann2022).optimal(1e24)": lambda: laws.get_law("hoffmann2022").optimal(1e24),
    "plan.make_plan(512 H100 x 30 days, 3 laws)": lambda: plan.make_plan(PLAN_REQUEST),
    # --mfu auto: each law sized at the MFU its own layout predicts (a fixed point, a few layout searches per law)
    "plan.make_plan(same, --mfu auto)": lambda: plan.make_plan(PLAN_REQUEST.model_copy(update={"mfu_auto": True})),
    # A new request: no shape, count or FLOPs cached yet.
    "plan.make_plan(same, caches cleared)": lambda: (suggest_shape.cache_clear(), param_counts.cache_clear(),
                                                     flops_per_token.cache_clear(), plan.make_plan(PLAN_REQUEST)),
    "plan.isoflop_curves(5 budgets x 60 sizes)": lambda: plan.isoflop_curves("besiroglu2024",
                                                                             plan.budgets_around(1e23)),
    "plan.frontier(3 laws x 40 budgets)": lambda: plan.frontier(["hoffmann2022", "besiroglu2024", "kaplan2020"],
                                                                1e20, 1e26),
    # the run recipe (issue 11)
    "inference.inference_aware(5.76e23, 1e13 tokens, H100)": lambda: inference.inference_aware(
        "besiroglu2024", 5.76e23, inference.InferenceDemand(tokens=1e13, mfu_generate=0.1), "H100"),
    "inference.cost_curve(60 sizes)": lambda: inference.cost_curve("besiroglu2024", 5.76e23,
                                                                   inference.InferenceDemand(tokens=1e13)),
    "overtrain.overtrain_table(7 ratios)": lambda: overtrain.overtrain_table("besiroglu2024", 5.76e23),
    "overtrain.overtrain_point(8B, 15T)": lambda: overtrain.overtrain_point("besiroglu2024", 8e9, 15e12),
    "hparams.hparams_for_flops(1e24)": lambda: hparams.hparams_for_flops(1e24),
    "claims.check_claim(70B, 2T, '6000 PF-days')": lambda: claims.check_claim(70e9, 2e12, "6000 PF-days"),
    "claims.quoted_figures() (6 rows)": claims.quoted_figures,
    "vision params + compute (8 presets)": lambda: [(vision.vision_params(n), vision.vision_compute(n))
                                                    for n in vision.vision_presets()],
}


def time_call(fn) -> tuple[float, float, float]:
    """Median and p99 wall time, and the worst CPU time: on a shared machine a wall-clock maximum
    measures the scheduler (another process holding the core), so the verdict uses CPU time."""
    wall, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.thread_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.quantiles(wall, n=100)[98], max(cpu)


def peft_full_finetuning_check() -> str:
    """Llama-3.2-3B full fine-tuning as huggingface/peft measured it (bf16 AdamW, batch 4, <= 768 tokens,
    SDPA, no checkpointing, L40S) against training_memory with the same knobs."""
    if not PEFT_CSV.exists():
        return f"(peft comparison skipped: {PEFT_CSV} not present)"
    row = next(r for r in csv.DictReader(PEFT_CSV.open()) if r["peft_type"] == "FULL")
    est = training_memory(get_preset("llama-3.2-3b"), 768, 4, optimizer="adamw-bf16", attention="sdpa")
    measured = float(row["mem_max_GB"])
    return (f"Accuracy: Llama-3.2-3B full fine-tuning (peft MetaMathQA, {row['accelerator']}): estimated "
            f"{est.total_gb:.1f} GB (state {est.weights_gb + est.grads_gb + est.optimizer_gb:.1f} + activations "
            f"{est.activations_gb:.1f}) vs measured peak {measured:.2f} GB: {est.total_gb / measured - 1:+.1%}")


def auto_budget_check() -> str:
    """Under --mfu auto, how far any law's run overshoots a dollar budget (each law is sized at its own predicted
    MFU, planner.plan._plan_at_its_own_mfu): 3 accelerators x 3 GPU counts x 3 budgets, 3 laws each."""
    worst, plans = 0.0, 0
    for acc, gpus, usd in itertools.product(["H100-SXM", "A100-80GB", "H200"], [64, 512, 2048], [2e5, 2e6, 2e7]):
        result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(usd=usd, gpus=gpus, accelerator=acc),
                                                 laws=list(PLAN_REQUEST.laws), mfu_auto=True))
        for p in result.plans:
            if p.layout is not None:  # without a layout the slider's MFU prices the run: nothing to check
                plans += 1
                worst = max(worst, p.cost.usd / usd - 1)
    return f"--mfu auto, every law within the budget: {plans} law plans over 27 dollar budgets, worst overrun {worst:+.2%}"


def main() -> None:
    cold_start = time.perf_counter()
    suggest_shape(3e9)
    cold_ms = (time.perf_counter() - cold_start) * 1e3
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"## bench_planner_calls: architecture, memory and law calls ({now}, 2-core CPU shared with other "
          f"jobs, Python {platform.python_version()})")
    print(f"cold: first suggest_shape {cold_ms:.2f} ms; {REPEATS} repeats per call")
    print("| call | median ms | p99 ms | max CPU ms | < 50 ms |")
    print("|---|---|---|---|---|")
    for name, fn in CALLS.items():
        median, p99, worst_cpu = time_call(fn)
        print(f"| {name} | {median:.3f} | {p99:.3f} | {worst_cpu:.3f} | {'yes' if worst_cpu < LIMIT_MS else 'NO'} |")
    print()
    print(peft_full_finetuning_check())
    print(auto_budget_check())


if __name__ == "__main__":
    main()
