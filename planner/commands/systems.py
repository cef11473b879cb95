"""Subcommands for systems estimates: parallel (layout search with predicted MFU), goodput."""
from __future__ import annotations

from typing import Callable

from planner.commands import add_gpu_argument
from planner.core.architecture import check_context, default_seq, get_preset
from planner.systems.goodput import published_goodputs
from planner.systems.layout import search_layouts


def parallel_command(sub) -> Callable:
    p = sub.add_parser("parallel", help="fastest TP x PP x DP (x EP) layout that fits, with predicted MFU")
    p.add_argument("--preset", required=True, help="model preset (see `presets`)")
    p.add_argument("--gpus", type=int, required=True, help="number of accelerators")
    add_gpu_argument(p)
    p.add_argument("--seq", type=int, default=None,
                   help="training sequence length (default 4096, or a GPT-2 preset's positions if fewer)")
    p.add_argument("--global-batch-tokens", type=int, default=None, help="tokens per step (default 4M)")

    def handle(args):
        cfg = get_preset(args.preset)
        seq = default_seq(cfg, 4096) if args.seq is None else args.seq  # gpt2-xl holds 1,024 positions
        check_context(cfg, seq)
        return search_layouts(cfg, args.gpus, args.gpu, seq, args.global_batch_tokens)

    return handle


def goodput_command(sub) -> Callable:
    sub.add_parser("goodput", help="published runs' GPU-hours vs --mfu auto, and the goodput each implies")
    return lambda args: published_goodputs()


COMMANDS = [parallel_command, goodput_command]
