"""Subcommands of the compute planner: laws, optimal."""
from __future__ import annotations

from typing import Callable

from planner import laws


def laws_command(sub) -> Callable:
    sub.add_parser("laws", help="list the scaling laws (published presets and saved fits)")
    return lambda args: laws.list_laws()


def optimal_command(sub) -> Callable:
    p = sub.add_parser("optimal", help="compute-optimal model size and tokens for a FLOP budget")
    p.add_argument("--flops", type=float, required=True, help="training compute in FLOPs, e.g. 5.88e23")
    p.add_argument("--law", default=laws.DEFAULT_LAW, help="law name (see `laws`)")
    return lambda args: laws.get_law(args.law).optimal(args.flops)


COMMANDS = [laws_command, optimal_command]
