"""`python -m planner ...`: every subcommand prints a readable summary, or with --json exactly the
result model's `model_dump()`. Any error is one clear line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
from typing import Callable

from pydantic import BaseModel, ValidationError

from planner.errors import PlannerError, validation_sentence

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse reads "-1e24" as an option (its pattern knows only -1 and -1.5), so `--flops -1e24` said
        # "expected one argument" instead of the value's own error: negative numbers in any notation are values.
        self._negative_number_matcher = re.compile(r"^-(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$", re.I)

    def error(self, message):  # argparse's default prints the whole usage; keep errors to one line
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _emit(data, as_json: bool) -> None:
    """Print a result already made plain (`_plain`)."""
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        _print_human(data)


def _not_finite(data, path: str = "") -> tuple[str, float] | None:
    """The first NaN or infinite number in a result, with where it is: such a number is never an answer."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "the result", data
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        if found := _not_finite(value, f"{path}.{key}" if path else str(key)):
            return found
    return None


def _plain(result):
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_plain(r) for r in result]
    if isinstance(result, dict):
        return {k: _plain(v) for k, v in result.items()}
    return result


def _print_human(data, depth: int = 0) -> None:
    """An indented, YAML-like listing: readable in a terminal, and --json is there for machines."""
    pad = "  " * depth
    items = data.items() if isinstance(data, dict) else ((f"- [{i}]", v) for i, v in enumerate(data))
    for key, value in items:
        label = key if isinstance(data, list) else f"{key}:"
        if str(key).endswith("_range") and _short_numbers(value):  # on one line: 4.579e+04 – 9.074e+04
            print(f"{pad}{label} {' – '.join(map(_readable, value))}")
        elif isinstance(value, (dict, list)) and value:
            print(f"{pad}{label}")
            _print_human(value, depth + 1)
        else:
            print(f"{pad}{label} {_readable(value)}")


def _short_numbers(value) -> bool:
    return (isinstance(value, list) and 0 < len(value) <= 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _readable(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"  # 68,976,648,192 rather than 68976648192
    return str(value)


# Each feature module in planner/commands/ exposes COMMANDS: functions that add a subparser and return
# its handler. Handlers import heavy modules (torch, scipy) lazily so `laws` stays instant. The list is
# explicit and a module that fails to import stops the CLI with its ImportError: a broken feature must
# not quietly vanish from `--help`.
FEATURES = ["plan", "models", "arch", "fit", "verify", "adapt", "systems"]


def _registrations() -> list[Callable]:
    found = []
    for feature in FEATURES:
        found.extend(importlib.import_module(f"planner.commands.{feature}").COMMANDS)
    return found


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
    parser = _Parser(prog="python -m planner", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    handlers = {}
    for register in _registrations():
        before = set(sub.choices)
        handler = register(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                                           help="print the result as JSON")
            handlers[name] = handler
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        data = _plain(handlers[args.command](args))
        if found := _not_finite(data):  # an input past what floats hold: say so, and print nothing wrong
            raise PlannerError(f"{found[0]} comes out as {_readable(found[1])}: an input is too large or too small "
                               "to compute with; use values closer to real training runs")
    except PlannerError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as err:
        print(f"error: {validation_sentence(err)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a file or the state directory the planner could not read or write: one line too
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # a bug: still one line, and exit 1 (not 2) so it is not mistaken for bad input
        if os.environ.get("SCALEPLAN_DEBUG"):
            raise
        print(f"error: internal error ({type(err).__name__}: {err}); this is a bug in scaleplan, please report "
              "the command (SCALEPLAN_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    try:
        _emit(data, args.json)
    except BrokenPipeError:  # `python -m planner ... | head` closed the pipe: not an error
        sys.stderr.close()
    return 0
