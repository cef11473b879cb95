"""Adaptation estimates vs peft's measured method comparison on Llama-3.2-3B (../shared/datasets/
peft_method_comparison_llama32_3b.csv; huggingface/peft method_comparison/MetaMathQA).

peft's runs: bf16 weights and AdamW states (`dtype: bfloat16`, `use_amp: false`), batch 4, sequences up to
768 tokens, default (SDPA) attention, no gradient checkpointing, one NVIDIA L40S; adapters in fp32.
For each run we estimate with the same knobs and print the trainable-parameter and peak-memory errors.

Run: .venv/bin/python benchmarks/bench_adaptation.py
"""
from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.adaptation import AdaptRequest, estimate  # noqa: E402

CSV = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "peft_method_comparison_llama32_3b.csv"
KNOBS = dict(micro_batch=4, seq_len=768, precision="bf16", attention="sdpa", accelerator="L40S")

# peft experiment -> the request that reproduces its adapter config
RUNS = {
    "full-finetuning/llama-3.2-3B-lr_0.00001": dict(method="full"),
    "lora/llama-3.2-3B-rank32": dict(method="lora", rank=32),
    "lora/llama-3.2-3B-rank64": dict(method="lora", rank=64),
    "lora/llama-3.2-3B-rank10-target-mlp": dict(method="lora", rank=10,
                                                target_modules=["gate_proj", "up_proj", "down_proj"]),
    "ia3/llama-3.2-3B-default": dict(method="ia3"),
    "ln_tuning/llama-3.2-3B-default": dict(method="bitfit"),
    "prompt_tuning/llama-3.2-3B-default": dict(method="prompt", virtual_tokens=200),
    "prefixtuning/llama-3.2-3B-lr_0.001": dict(method="prefix", virtual_tokens=200),
    "prefixtuning/llama-3.2-3B-tokens50-init_prefix-lr_0.005": dict(method="prefix", virtual_tokens=50),
}


def compare() -> list[dict]:
    rows = {r["experiment"]: r for r in csv.DictReader(CSV.open())}
    out = []
    for name, kwargs in RUNS.items():
        est = estimate("llama-3.2-3b", AdaptRequest(**KNOBS, **kwargs))
        measured_gb = float(rows[name]["mem_max_GB"])
        out.append({"experiment": name, "method": est.method,
                    "trainable": int(rows[name]["trainable"]), "trainable_est": est.trainable_params,
                    "mem_gb": measured_gb, "mem_est_gb": est.memory_gb,
                    "mem_err": est.memory_gb / measured_gb - 1,
                    "time_s": float(rows[name]["train_time_s"]), "flops_per_token": est.flops_per_token})
    return out


def main() -> None:
    rows = compare()
    print(f"{'experiment':58s} {'trainable':>11s} {'est.':>11s} {'mem GB':>7s} {'est.':>7s} {'err':>7s}")
    for r in rows:
        print(f"{r['experiment']:58s} {r['trainable']:11,d} {r['trainable_est']:11,d} {r['mem_gb']:7.2f} "
              f"{r['mem_est_gb']:7.2f} {r['mem_err']:+7.1%}")
    errors = [abs(r["mem_err"]) for r in rows]
    exact = sum(r["trainable"] == r["trainable_est"] for r in rows)
    print(f"trainable params exact: {exact}/{len(rows)}; peak memory |error|: mean {statistics.mean(errors):.1%}, "
          f"max {max(errors):.1%}")
    full = next(r for r in rows if r["method"] == "full")
    lora = next(r for r in rows if r["experiment"].endswith("rank32"))
    print(f"full / LoRA-r32: train time ratio measured {full['time_s'] / lora['time_s']:.2f}, "
          f"FLOPs/token ratio estimated {full['flops_per_token'] / lora['flops_per_token']:.2f} "
          "(the rest is the full-model AdamW step and gradient traffic, which FLOPs do not count)")


if __name__ == "__main__":
    main()
