"""Subcommands of the compute planner: laws, optimal (with the inference-aware and over-training answers),
plan, hparams."""
from __future__ import annotations

from typing import Callable

from planner.commands import add_gpu_argument, mfu_value, refuse_unused
from planner.core import budget, laws
from planner.errors import PlannerError
from planner.recipe import hparams, overtrain
from planner.recipe.data_limits import with_data_limits
from planner.systems.auto import parse_mfu
from planner.systems.goodput import DEFAULT_GOODPUT
from planner.systems.published import REALIZED_SHARE


def laws_command(sub) -> Callable:
    sub.add_parser("laws", help="list the scaling laws (published presets and saved fits)")
    return lambda args: laws.list_laws()


def _optimal_arguments(p) -> None:
    p.add_argument("--flops", type=float, help="training compute in FLOPs, e.g. 5.88e23")
    p.add_argument("--params", type=float, help="a fixed model size: the tokens that make it optimal "
                                                "(with --tokens: the over-training penalty of that run)")
    p.add_argument("--tokens", type=float, help="a fixed token count: the size that makes it optimal")
    p.add_argument("--law", default=laws.DEFAULT_LAW, help=f"law name (see `laws`; default {laws.DEFAULT_LAW})")
    p.add_argument("--inference-tokens", type=float, help="lifetime inference tokens (with --flops): the "
                                                          "size with the least training + inference cost")
    p.add_argument("--prefill-share", type=float, default=0.5, help="share of inference tokens that are prompt")
    p.add_argument("--mfu", type=mfu_value, default=budget.DEFAULT_MFU,
                   help=f"training MFU (default {budget.DEFAULT_MFU})")
    p.add_argument("--mfu-prefill", type=mfu_value, default=None, help="prompt-token MFU (default: training's)")
    p.add_argument("--mfu-generate", type=mfu_value, default=None, help="generated-token MFU (default: training's)")
    add_gpu_argument(p, "to price training + inference in dollars", default=None)
    p.add_argument("--unique-tokens", type=float, help="unique tokens available: epochs and effective data")


def _optimal(args):
    given = [name for name in ("flops", "params", "tokens") if getattr(args, name) is not None]
    if given not in (["flops"], ["params"], ["tokens"], ["params", "tokens"]):
        raise PlannerError("give --flops, --params, --tokens, or --params with --tokens")
    if args.inference_tokens is not None and given != ["flops"]:
        raise PlannerError("--inference-tokens needs --flops (the budget whose optimum sets the loss)")
    serving = {"--mfu": args.mfu != budget.DEFAULT_MFU, "--prefill-share": args.prefill_share != 0.5,
               "--mfu-prefill": args.mfu_prefill is not None, "--mfu-generate": args.mfu_generate is not None,
               "--gpu": args.gpu is not None}
    if args.inference_tokens is None:  # they price serving: without it, ignored
        refuse_unused([flag for flag, on in serving.items() if on],
                      "without --inference-tokens (they price the serving-aware optimum)")
    law = laws.get_law(args.law)
    if given == ["params", "tokens"]:
        return overtrain.overtrain_point(args.law, args.params, args.tokens)
    if args.params is not None:
        return law.optimal_for_params(args.params)
    if args.tokens is not None:
        return law.optimal_for_tokens(args.tokens)
    if args.inference_tokens is None:
        return law.optimal(args.flops)
    from planner.recipe import inference  # its cost curves need pandas: only the inference-aware answer pays

    demand = inference.InferenceDemand(
        tokens=args.inference_tokens, prefill_share=args.prefill_share, mfu_train=args.mfu,
        mfu_prefill=args.mfu_prefill, mfu_generate=args.mfu_generate)
    return inference.inference_aware(args.law, args.flops, demand, accelerator=args.gpu)


def optimal_command(sub) -> Callable:
    p = sub.add_parser("optimal", help="compute-optimal model size and tokens for a FLOP budget (or the optimal "
                                       "tokens for a fixed size, size for fixed tokens, the penalty of a fixed "
                                       "run, or the inference-aware optimum)")
    _optimal_arguments(p)

    def handle(args):
        result = _optimal(args)
        if args.unique_tokens is not None:
            return with_data_limits(result, args.unique_tokens)
        return result

    return handle


def hparams_command(sub) -> Callable:
    p = sub.add_parser("hparams", help="peak learning rate and batch size (DeepSeek LLM 2024, Step Law 2025)")
    p.add_argument("--flops", type=float, help="training compute: the rules at the compute-optimal run")
    p.add_argument("--params", type=float, help="model size (with --tokens)")
    p.add_argument("--tokens", type=float, help="training tokens (with --params)")
    p.add_argument("--law", default=laws.DEFAULT_LAW, help="law that sizes the run for --flops")
    p.add_argument("--seq", type=int, default=4096, help="training sequence length")

    def handle(args):
        if args.flops is not None and args.params is None and args.tokens is None:
            return hparams.hparams_for_flops(args.flops, args.law, args.seq)
        if args.flops is None and args.params is not None and args.tokens is not None:
            if args.law != laws.DEFAULT_LAW:
                raise PlannerError("--law sizes the run of --flops; with --params and --tokens there is nothing to "
                                   "size: drop --law")
            return hparams.hparams(args.params, args.tokens, args.seq)
        raise PlannerError("give --flops, or --params with --tokens")

    return handle


def plan_command(sub) -> Callable:
    p = sub.add_parser("plan", help="the compute-optimal run for a budget: size, tokens, loss, cost, memory")
    p.add_argument("budget", help='e.g. "512 H100 for 30 days", "$2M", "1e24 FLOPs", "10k GPU-hours"')
    p.add_argument("--law", action="append", help=f"law name, repeatable (default: {laws.DEFAULT_LAW})")
    add_gpu_argument(p, "when the budget names none")
    p.add_argument("--gpus", type=int, default=None, help="GPU count when the budget names none")
    p.add_argument("--mfu", default=str(budget.DEFAULT_MFU),
                   help=f"model-FLOPs utilisation (default {budget.DEFAULT_MFU}), or 'auto': the best parallel "
                        f"layout's predicted MFU x {REALIZED_SHARE} (what published runs reached), with "
                        f"{DEFAULT_GOODPUT:.0%}% goodput")  # %% for argparse
    p.add_argument("--seq", type=int, default=2048, help="training sequence length")
    p.add_argument("--sharding", default="zero3", help="none | zero1 | zero2 | zero3 | fsdp")

    def handle(args):
        from planner import plan  # its tables need pandas

        mfu = parse_mfu(args.mfu)
        defaults = {"accelerator": args.gpu, "mfu": budget.DEFAULT_MFU if mfu == "auto" else mfu}
        request = budget.parse_budget(args.budget, gpus=args.gpus, **defaults)
        return plan.make_plan(plan.PlanRequest(budget=request, laws=args.law or [laws.DEFAULT_LAW],
                                               seq_len=args.seq, sharding=args.sharding, mfu_auto=mfu == "auto"))

    return handle


COMMANDS = [laws_command, optimal_command, plan_command, hparams_command]
