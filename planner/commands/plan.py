"""Subcommands of the compute planner: laws, optimal."""
from __future__ import annotations

from typing import Callable

from planner.core import laws


def laws_command(sub) -> Callable:
    sub.add_parser("laws", help="list the scaling laws (published presets and saved fits)")
    return lambda args: laws.list_laws()


def optimal_command(sub) -> Callable:
    p = sub.add_parser("optimal", help="compute-optimal model size and tokens for a FLOP budget "
                                       "(or the optimal tokens for a fixed size, or size for fixed tokens)")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--flops", type=float, help="training compute in FLOPs, e.g. 5.88e23")
    given.add_argument("--params", type=float, help="a fixed model size: the tokens that make it optimal")
    given.add_argument("--tokens", type=float, help="a fixed token count: the size that makes it optimal")
    p.add_argument("--law", default=laws.DEFAULT_LAW, help="law name (see `laws`)")

    def handle(args):
        law = laws.get_law(args.law)
        if args.params is not None:
            return law.optimal_for_params(args.params)
        if args.tokens is not None:
            return law.optimal_for_tokens(args.tokens)
        return law.optimal(args.flops)

    return handle


def plan_command(sub) -> Callable:
    p = sub.add_parser("plan", help="the compute-optimal run for a budget: size, tokens, loss, cost, memory")
    p.add_argument("budget", help='e.g. "512 H100 for 30 days", "$2M", "1e24 FLOPs", "10k GPU-hours"')
    p.add_argument("--law", action="append", help="law name, repeatable (default: hoffmann2022)")
    p.add_argument("--gpu", default=None, help="accelerator when the budget names none (default H100-SXM)")
    p.add_argument("--gpus", type=int, default=None, help="GPU count when the budget names none")
    p.add_argument("--mfu", type=float, default=None, help="model-FLOPs utilisation (default 0.4)")
    p.add_argument("--seq", type=int, default=2048, help="training sequence length")
    p.add_argument("--sharding", default="zero3", help="none | zero1 | zero2 | zero3 | fsdp")

    def handle(args):
        from planner.core import budget
        from planner import plan

        defaults = {"accelerator": args.gpu or budget.DEFAULT_ACCELERATOR,
                    "mfu": budget.DEFAULT_MFU if args.mfu is None else args.mfu}
        request = budget.parse_budget(args.budget, gpus=args.gpus, **defaults)
        return plan.make_plan(plan.PlanRequest(budget=request, laws=args.law or [laws.DEFAULT_LAW],
                                               seq_len=args.seq, sharding=args.sharding))

    return handle


COMMANDS = [laws_command, optimal_command, plan_command]
