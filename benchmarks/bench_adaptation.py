"""Adaptation estimates vs peft's measured method comparison on Llama-3.2-3B (../shared/datasets/
peft_method_comparison_llama32_3b.csv; huggingface/peft method_comparison/MetaMathQA).

peft's runs: bf16 weights and AdamW states (`dtype: bfloat16`, `use_amp: false`), batch 4, sequences up to
768 tokens, default (SDPA) attention, no gradient checkpointing, one NVIDIA L40S; adapters in fp32.
For each run we estimate with the same knobs and print the trainable-parameter and peak-memory errors.

Second part: a measured comparison of every method on this machine's CPU (tiny Llama-style base,
pretrained briefly on Python source, adapted to the Python docs' prose), estimated vs measured memory
(CPU: exact bytes of weights, grads and AdamW states, plus the tensors autograd saves) and throughput
relative to full fine-tuning (estimated as the FLOP ratio).

Third part: every run in data/adapt_memory_measurements.csv (calibration = the peft comparison above; held-out =
public measurements never used to choose a constant: fms-acceleration's A100-80GB LoRA/QLoRA/full runs), with
the estimate's error per run and per split (planner.adapt.validation, what the Adapt page shows).

Run: .venv/bin/python benchmarks/bench_adaptation.py [--skip-cpu] [--gpu]
(--gpu: the same comparison on CUDA with a ~100M base (GPT-2 small shape), peak memory from
torch.cuda.max_memory_allocated; not run yet: no GPU was available when this was written.)
"""
from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.adapt.estimate import AdaptRequest, estimate  # noqa: E402

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
          "(the rest is the full-model AdamW step and gradient traffic, which FLOPs do not count; the estimate "
          "adds bandwidth-bound AdamW steps to GPU-hours, optimizer_gpu_hours)")


def validation() -> None:
    from planner.adapt.validation import validate_memory

    v = validate_memory()
    print(f"\n{'split':12s} {'run':58s} {'model':13s} {'method':6s} {'b x s':>9s} {'ckpt':>4s} "
          f"{'meas GB':>8s} {'est.':>7s} {'err':>7s}")
    for c in v.checks:
        print(f"{c.split:12s} {c.id:58s} {c.model:13s} {c.method:6s} {c.micro_batch:>3d}x{c.seq_len:<5d} "
              f"{'yes' if c.gradient_checkpointing else 'no':>4s} {c.measured_gb:8.2f} {c.estimated_gb:7.2f} "
              f"{c.error:+7.1%}")
    for name, split in (("calibration", v.calibration), ("held-out", v.held_out)):
        print(f"{name}: {split.runs} runs, |error| mean {split.mean_abs_error:.1%}, max {split.max_abs_error:.1%}")


def measured_comparison(gpu: bool = False) -> None:
    import os
    import tempfile
    import time

    os.environ.setdefault("SCALEPLAN_HOME", tempfile.mkdtemp(prefix="bench-adapt-"))
    from planner.adapt.measure import AdaptRunSpec, run_adaptation
    from planner.views.adapt import estimate_error_table

    if gpu:
        spec = AdaptRunSpec(preset="gpt2", device="cuda", steps=50, base_steps=200, evals=3,
                            corpus_bytes=2_000_000, base_corpus_bytes=4_000_000,
                            knobs=AdaptRequest(micro_batch=8, seq_len=512, virtual_tokens=20))
    else:
        spec = AdaptRunSpec(steps=30, base_steps=60, evals=3, corpus_bytes=200_000, base_corpus_bytes=400_000,
                            knobs=AdaptRequest(micro_batch=8, seq_len=128, virtual_tokens=16))
    start = time.time()
    result = run_adaptation(spec)
    print(f"\n{spec.device} comparison: preset {spec.preset}, {spec.steps} steps x {spec.knobs.micro_batch} x "
          f"{spec.knobs.seq_len} tokens per method; base: {result.base} ({time.time() - start:.0f} s)")
    print(f"{'method':13s} {'status':36s} {'eval loss':>9s} {'tok/s':>7s} {'act MB':>7s} {'est.':>7s} "
          f"{'state MB':>8s} {'est.':>7s}")
    for r in result.runs:
        if r.status != "done":
            print(f"{r.method:13s} {r.status}")
            continue
        m, e = r.measured_memory, r.estimated_memory
        if not m:  # CUDA: only the allocator's peak
            print(f"{r.method:13s} {'done':36s} {r.final_eval_loss:9.3f} {r.tokens_per_s or 0:7.0f} "
                  f"peak {r.peak_memory_gb:.3f} GB, estimated {r.estimated_memory_gb:.3f} GB")
            continue
        state = (m["weights_gb"] + m["grads_gb"] + m["optimizer_gb"]) * 1e3
        state_est = (e["weights_gb"] + e["adapter_gb"] + e["grads_gb"] + e["optimizer_gb"]) * 1e3
        print(f"{r.method:13s} {'done':36s} {r.final_eval_loss:9.3f} {r.tokens_per_s or 0:7.0f} "
              f"{m['activations_gb'] * 1e3:7.2f} {e['activations_gb'] * 1e3:7.2f} {state:8.3f} {state_est:7.3f}")
    table = estimate_error_table(result.model_dump())
    print(table.drop(columns=["trainable (est.)", "trainable (measured)"]).to_string(index=False,
                                                                                   float_format="%.3g"))


if __name__ == "__main__":
    main()
    validation()
    if "--gpu" in sys.argv:
        measured_comparison(gpu=True)
    elif "--skip-cpu" not in sys.argv:
        measured_comparison()
