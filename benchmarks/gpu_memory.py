"""Estimated vs measured peak GPU memory of full-size training configurations (random init, no downloads).

For each configuration: the planner's estimate (planner.adapt.estimate, the Adapt page's numbers) and
torch.cuda.max_memory_allocated over building the model on the GPU and two training steps of the
planner's own loop (planner.train.loop.Trainer: bf16 autocast, fused AdamW, compile off). One JSON line
per configuration, and a table at the end.

    python benchmarks/gpu_memory.py --out results/memory.json          # on a GPU (H100/H200: ~1.5 min)
    python benchmarks/gpu_memory.py --dry-run --out /tmp/memory.json   # CPU: tiny stand-ins, no peak counter
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from planner.adapt.estimate import estimate  # noqa: E402
from planner.adapt.measure import build_variant  # noqa: E402
from planner.adapt.methods.base import AdaptRequest  # noqa: E402
from planner.core.architecture import ModelConfig, get_preset, to_hf_config  # noqa: E402
from planner.train.loop import TrainConfig, Trainer  # noqa: E402
from planner.verify.shapes import ladder_shape  # noqa: E402

# (label, preset, method, micro-batch, seq, precision, gradient checkpointing): issue 13, Part 2 item 4
CONFIGS = [
    ("llama-2-7b LoRA r8, b4 s2048", "llama-2-7b", "lora", 4, 2048, "bf16", False),
    ("llama-2-7b LoRA r8, b4 s2048, checkpointing", "llama-2-7b", "lora", 4, 2048, "bf16", True),
    ("gpt2-xl full FT bf16, b4 s1024", "gpt2-xl", "full", 4, 1024, "bf16", False),
    ("gpt2-xl full FT fp32 + autocast, b4 s1024", "gpt2-xl", "full", 4, 1024, "amp", False),
]
WEIGHT_DTYPE = {"bf16": torch.bfloat16, "amp": torch.float32, "fp32": torch.float32}


def stand_in(preset: str) -> ModelConfig:
    """--dry-run: a tiny model of the same family, so the CPU smoke runs the same code in seconds."""
    family = get_preset(preset).family
    return ladder_shape(3e4, family=family, vocab_size=512, seq_len=64)


def build_on(cfg: ModelConfig, device: str, dtype):
    """Random init directly on the device in the weight dtype (a 7B model never passes through the CPU)."""
    from transformers import AutoModelForCausalLM

    hf = to_hf_config(cfg)
    hf.use_cache = False
    with torch.device(device):
        return AutoModelForCausalLM.from_config(hf, dtype=dtype, attn_implementation="sdpa")


def measure(cfg: ModelConfig, req: AdaptRequest, device: str) -> dict:
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build_variant(build_on(cfg, device, WEIGHT_DTYPE[req.precision]), cfg, req)
    if req.gradient_checkpointing:
        # transformers 5.2x renamed it; the GPU image may hold an older 5.x
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    model.train()
    tokens = np.random.default_rng(0).integers(0, cfg.vocab_size, 20 * req.micro_batch * (req.seq_len + 1),
                                               dtype=np.int64).astype(np.uint16)
    train = TrainConfig(tokens=2 * req.micro_batch * req.seq_len, batch_size=req.micro_batch, seq_len=req.seq_len,
                        evals=1, eval_tokens=req.micro_batch * req.seq_len, device=device, compile="off",
                        checkpoint_every_s=1e9)
    start = time.time()
    result = Trainer(model, tokens, tokens, train, flops_per_token=1.0).run()
    peak = torch.cuda.max_memory_allocated() / 1e9 if cuda else None
    del model
    return {"measured_gb": peak, "seconds": time.time() - start, "final_loss": result.final_loss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny stand-in models: checks the code path only")
    args = ap.parse_args()
    device = "cpu" if args.dry_run else "cuda"
    rows = []
    for label, preset, method, batch, seq, precision, ckpt in CONFIGS:
        cfg = stand_in(preset) if args.dry_run else get_preset(preset)
        req = AdaptRequest(method=method, micro_batch=2 if args.dry_run else batch, seq_len=64 if args.dry_run else seq,
                           precision=precision, gradient_checkpointing=ckpt)
        est = estimate(cfg, req)
        row = {"config": label, "model": cfg.name, "estimated_gb": est.memory_gb,
               "estimated": est.memory.model_dump(), "device": device}
        try:
            row.update(measure(cfg, req, device))
        except torch.OutOfMemoryError as err:  # the estimate said it fits; record that it did not
            row["error"] = f"out of memory: {str(err).splitlines()[0]}"
        if row.get("measured_gb"):
            row["error_pct"] = 100 * (row["estimated_gb"] - row["measured_gb"]) / row["measured_gb"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"\n{'configuration':48s} {'estimated GB':>12s} {'measured GB':>12s} {'error':>8s}")
    for r in rows:
        measured = f"{r['measured_gb']:.2f}" if r.get("measured_gb") else r.get("error", "—")[:12]
        error = f"{r['error_pct']:+.1f}%" if "error_pct" in r else "—"
        print(f"{r['config']:48s} {r['estimated_gb']:12.2f} {measured:>12s} {error:>8s}")


if __name__ == "__main__":
    main()
