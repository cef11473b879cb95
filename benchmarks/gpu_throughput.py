"""Training throughput and MFU: the planner's loop (planner.train.loop.Trainer) vs a plain transformers
loop (model(input_ids, labels) -> loss.backward() -> fused AdamW), same model, data, batch and dtype,
torch.compile on both. MFU counts 6N + 12·L·d·T FLOPs per token (architecture.flops_per_token) against
the card's dense BF16 peak (planner.core.hardware). Also writes a torch-profiler table of the planner
loop's steps, to see what to fix first.

    python benchmarks/gpu_throughput.py --out results/throughput.json --profile results/profile.txt
    python benchmarks/gpu_throughput.py --dry-run --out /tmp/t.json   # CPU smoke: tiny model, no compile
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from planner.core.architecture import ModelConfig, flops_per_token  # noqa: E402
from planner.core.hardware import get_accelerator  # noqa: E402
from planner.train.loop import Callbacks, TrainConfig, Trainer, accelerator_name, batch_at  # noqa: E402
from planner.train.model import build_model  # noqa: E402
from planner.verify.shapes import compute_params, ladder_shape  # noqa: E402


def peak_flops(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    return get_accelerator(accelerator_name(torch.cuda.get_device_name())).peak_flops


def planner_loop(cfg: ModelConfig, tokens: np.ndarray, train: TrainConfig, warm: int) -> float:
    """Tokens/s of the planner's Trainer, median over the logged windows after `warm` steps (compile)."""
    rates = []
    log = Callbacks(on_log=lambda step, m: rates.append(m["tokens_per_s"]) if step > warm else None)
    fpt = flops_per_token(cfg, seq_len=train.seq_len).total
    Trainer(build_model(cfg), tokens, tokens[: 4 * (train.seq_len + 1)], train, fpt, log).run()
    return statistics.median(rates)


def plain_loop(cfg: ModelConfig, tokens: np.ndarray, train: TrainConfig, warm: int) -> float:
    """Tokens/s of the textbook transformers loop, timed between CUDA syncs after `warm` steps."""
    device = torch.device(train.device)
    model = build_model(cfg).to(device)
    cuda = device.type == "cuda"
    forward = torch.compile(model) if train.compile == "on" else model
    opt = torch.optim.AdamW(model.parameters(), lr=train.lr, **({"fused": True} if cuda else {}))
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for step in range(train.steps):
        if step == warm:
            sync()
            start = time.time()
        ids = torch.from_numpy(batch_at(tokens, step, train)).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = forward(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync()
    return (train.steps - warm) * train.tokens_per_step / (time.time() - start)


def profile_planner(cfg: ModelConfig, tokens: np.ndarray, train: TrainConfig, path: Path) -> None:
    """torch.profiler over a few steps of the planner loop (after one step to compile)."""
    from torch.profiler import ProfilerActivity, profile

    fpt = flops_per_token(cfg, seq_len=train.seq_len).total
    trainer = Trainer(build_model(cfg), tokens, tokens[: 4 * (train.seq_len + 1)], train, fpt)
    trainer.train_step(0)  # compile happens here
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.cuda else [])
    with profile(activities=activities) as prof:
        for step in range(1, 4):
            trainer.train_step(step)
        if trainer.cuda:
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if trainer.cuda else "self_cpu_time_total"
    path.write_text(f"{cfg.name}, batch {train.batch_size} x {train.seq_len}\n"
                    + prof.key_averages().table(sort_by=key, row_limit=30))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--profile", type=Path, default=None, help="write the profiler table here")
    ap.add_argument("--sizes", type=float, nargs="+", default=[125e6, 350e6])
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16, help="sequences per step")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--dry-run", action="store_true", help="CPU, a tiny model, no compile: checks the code path")
    args = ap.parse_args()
    device = "cpu" if args.dry_run else "cuda"
    sizes, seq, batch, steps = ([3e4], 64, 4, 6) if args.dry_run else (args.sizes, args.seq, args.batch, args.steps)
    warm = max(1, steps // 3)
    peak, rows = peak_flops(device), []
    for size in sizes:
        cfg = ladder_shape(size, vocab_size=512 if args.dry_run else 32000, seq_len=seq)
        train = TrainConfig(tokens=steps * batch * seq, batch_size=batch, seq_len=seq, lr=3e-4, evals=1,
                            eval_tokens=seq, log_every=max(1, warm // 2), device=device,
                            compile="off" if args.dry_run else "on", checkpoint_every_s=1e9)
        tokens = np.random.default_rng(0).integers(0, cfg.vocab_size, 200 * batch * (seq + 1)).astype(np.uint16)
        fpt = flops_per_token(cfg, seq_len=seq).total
        row = {"model": cfg.name, "params": compute_params(cfg), "seq": seq, "batch": batch, "device": device,
               "flops_per_token": fpt}
        for name, loop in (("planner", planner_loop), ("plain", plain_loop)):
            rate = loop(cfg, tokens, train, warm)
            row[f"{name}_tokens_per_s"] = rate
            row[f"{name}_mfu"] = rate * fpt / peak if peak else None
        row["speedup"] = row["planner_tokens_per_s"] / row["plain_tokens_per_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.profile:
        profile_planner(cfg, tokens, train, args.profile)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
