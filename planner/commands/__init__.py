"""CLI subcommands, one module per feature; planner/cli.py collects their COMMANDS lists.

Every subcommand module is imported to build the parser, so each one imports at its top only light modules
(planner.errors, planner.core.*, and modules that need nothing beyond pydantic and numpy). A handler whose
feature needs pandas, scipy or torch imports that feature's entry point in one lazy block, so `laws` and the
other quick commands start in ~0.3 s instead of ~0.8 s."""
from __future__ import annotations

import argparse

from planner.core.budget import DEFAULT_ACCELERATOR, check_mfu
from planner.core.hardware import get_accelerator
from planner.errors import PlannerError


def gpu_help(use: str = "", default: str | None = DEFAULT_ACCELERATOR) -> str:
    """The one help text of `--gpu`; `use` says what the command does with the accelerator."""
    text = f"accelerator (see `gpus`; 'H100' means H100-SXM; default {default or 'none'})"
    return f"{use}: {text}" if use else text


def add_gpu_argument(parser: argparse.ArgumentParser, use: str = "", default: str | None = DEFAULT_ACCELERATOR) -> None:
    """`--gpu NAME` in every command that takes an accelerator; the value lands in `args.gpu`.

    `--accelerator` (the old name in `ladder` and `adapt-estimate`) stays as a hidden alias so old scripts
    work. `default` is None only where no accelerator means no dollars (`optimal`)."""
    parser.add_argument("--gpu", dest="gpu", default=default, metavar="NAME", type=accelerator_name,
                        help=gpu_help(use, default))
    parser.add_argument("--accelerator", dest="gpu", default=argparse.SUPPRESS, type=accelerator_name,
                        help=argparse.SUPPRESS)


def accelerator_name(text: str) -> str:
    """`--gpu`'s type: the accelerator's table name, checked when the command line is read, so that no command
    can ignore an unknown one (`optimal --gpu FOO` without dollars to price did)."""
    try:
        return get_accelerator(text).name
    except PlannerError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def mfu_value(text: str) -> float:
    """An MFU option's type: the one MFU check (planner.core.budget.check_mfu) when the command line is read."""
    try:
        return check_mfu(float(text))
    except ValueError as err:  # not a number, or out of range (PlannerError is a ValueError)
        message = str(err) if isinstance(err, PlannerError) else f"MFU must be a number such as 0.4 (got {text!r})"
        raise argparse.ArgumentTypeError(message) from None


def refuse_unused(flags: list[str], where: str) -> None:
    """The one refusal of options a command would not read in this combination: they changed nothing and said
    nothing (`--method full --rank 16`, `memory --weights-dtype` for training). `where` ends the sentence
    "<flags> do(es) not apply ..."."""
    if flags:
        one = len(flags) == 1
        raise PlannerError(f"{' and '.join(flags)} {'does' if one else 'do'} not apply {where}; leave "
                           f"{'it' if one else 'them'} out")
