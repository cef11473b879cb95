"""Subcommands for hardware, budgets and the model catalog: cost, budget, gpus, models."""
from __future__ import annotations

from typing import Callable

from planner import catalog as models
from planner.commands import add_gpu_argument
from planner.core import budget, hardware
from planner.errors import PlannerError
from planner.recipe import claims, vision
from planner.systems import auto, goodput
from planner.systems.published import REALIZED_SHARE


def cost_command(sub) -> Callable:
    p = sub.add_parser("cost", help="FLOPs, GPU-hours, days and dollars to train N params on D tokens")
    p.add_argument("--params", type=float, required=True, help="model parameters (active ones for an MoE)")
    p.add_argument("--tokens", type=float, required=True, help="training tokens")
    add_gpu_argument(p)
    p.add_argument("--gpus", type=int, default=1, help="number of accelerators (sets wall-clock days)")
    p.add_argument("--mfu", default=str(budget.DEFAULT_MFU),
                   help=f"model-FLOPs utilisation, 0-1 (default {budget.DEFAULT_MFU}), or 'auto': the best "
                        f"parallel layout's predicted MFU x {REALIZED_SHARE} (what published runs reached)")
    p.add_argument("--seq", type=int, default=4096, help="sequence length for --mfu auto")
    p.add_argument("--preset", default=None, help="model shape for --mfu auto (default: a suggested shape)")
    p.add_argument("--goodput", type=float, default=None,
                   help=f"productive share of wall-clock (default: {goodput.DEFAULT_GOODPUT} with --mfu auto, "
                        "else 1)")
    return _cost


def _cost(a):
    mfu = auto.parse_mfu(a.mfu)
    if mfu != "auto" and a.preset is not None:  # it would be silently ignored
        raise PlannerError("--preset sets the model shape of --mfu auto's layout search; without --mfu auto the "
                           "cost needs only --params and --tokens")
    if mfu == "auto":
        share = goodput.DEFAULT_GOODPUT if a.goodput is None else a.goodput
        return auto.auto_cost(a.params, a.tokens, a.gpu, a.gpus, a.seq, share, a.preset)
    return budget.training_cost(a.params, a.tokens, a.gpu, a.gpus, mfu, 1.0 if a.goodput is None else a.goodput)


def budget_command(sub) -> Callable:
    p = sub.add_parser("budget", help='a budget in every unit, from text like "512 H100 for 30 days"',
                       description=f"Examples: {budget.EXAMPLES}")
    p.add_argument("text", help="the budget, e.g. '$2M' or '1e24 FLOPs' (quote it)")
    add_gpu_argument(p, "unless the text names one")
    p.add_argument("--gpus", type=int, default=None, help="GPUs, to express the budget in days")
    p.add_argument("--mfu", type=float, default=budget.DEFAULT_MFU,
                   help=f"model-FLOPs utilisation, 0-1 (default {budget.DEFAULT_MFU})")
    return lambda a: budget.resolve_budget(budget.parse_budget(a.text, a.gpu, a.mfu, a.gpus))


def gpus_command(sub) -> Callable:
    sub.add_parser("gpus", help="the accelerator table: dense BF16 peak, memory, bandwidth, price")
    return lambda a: list(hardware.accelerators().values())


def models_command(sub) -> Callable:
    p = sub.add_parser("models", help="published models: 6ND vs quoted compute, implied MFU, training cost")
    add_gpu_argument(p, "to price each run on")
    p.add_argument("--gpus", type=int, default=1024, help="accelerators, for the wall-clock days")
    p.add_argument("--mfu", type=float, default=budget.DEFAULT_MFU,
                   help=f"model-FLOPs utilisation, 0-1 (default {budget.DEFAULT_MFU})")
    return lambda a: models.model_table(a.gpu, a.mfu, a.gpus)


def claim_command(sub) -> Callable:
    p = sub.add_parser("claim", help='check a quoted compute figure, e.g. --quoted "6000 PF-days", against 6ND')
    p.add_argument("--params", type=float, help="model parameters (total)")
    p.add_argument("--active-params", type=float, default=None, help="active parameters per token (MoE)")
    p.add_argument("--tokens", type=float, help="training tokens")
    p.add_argument("--vision", default=None, help="a vision preset instead of params/tokens, e.g. clip-vit-l-14")
    p.add_argument("--quoted", required=True, help='the quoted figure: "6000 PF-days" or "3.1e23 FLOPs"')

    def handle(a):
        if a.vision is not None:
            if a.params is not None or a.tokens is not None or a.active_params is not None:
                raise PlannerError("give --vision PRESET or --params and --tokens, not both (one would be ignored)")
            return claims.check_vision_claim(a.vision, a.quoted)
        if a.params is None or a.tokens is None:
            raise PlannerError("give --params and --tokens (or --vision PRESET)")
        return claims.check_claim(a.params, a.tokens, a.quoted, a.active_params)

    return handle


def quoted_command(sub) -> Callable:
    sub.add_parser("quoted", help="commonly quoted compute figures and their verdicts")
    return lambda a: claims.quoted_figures()


def vision_command(sub) -> Callable:
    p = sub.add_parser("vision", help="vision presets (CLIP, DINOv2, SAM): exact params and training compute")
    p.add_argument("--preset", default=None, help="one preset (default: all)")

    def handle(a):
        names = [a.preset] if a.preset is not None else list(vision.vision_presets())
        return [{"params": vision.vision_params(n), "compute": vision.vision_compute(n)} for n in names]

    return handle


COMMANDS = [cost_command, budget_command, gpus_command, models_command, claim_command, quoted_command,
            vision_command]
