"""The CLI's JSON contract for every README example, compared with outputs recorded before the redesign
(tests/cli/golden/*.json, made by commit 30b7f7c). New keys are fine; a key that disappears or a value that moves
is a failure unless it is listed in DELIBERATE with the reason (an issue asked for that change)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import shlex
from pathlib import Path

import pytest

from planner.cli import main

GOLDEN = Path(__file__).parent / "golden"
CASES = [line.split("|", 1) for line in (GOLDEN / "commands.txt").read_text().splitlines() if line.strip()]
# List items are matched by the first of these keys they carry, so a table that gains rows still compares.
IDENTITY = ("name", "preset", "method", "law", "key", "id")

# case -> {key path prefix: why it changed on purpose}
ISSUE_12_MEMORY = ("issue 12: fits checks compare with the card's GiB (an 80 GB card holds 85.9e9 bytes) "
                   "and add allocator and CUDA/NCCL runtime overheads")
DELIBERATE: dict[str, dict[str, str]] = {
    "plan_text": {f"plan_text.plans[{law}].{key}": ISSUE_12_MEMORY for law in ("besiroglu2024", "kaplan2020")
                  for key in ("memory.assumptions", "min_gpus")},
    "memory_70b": {"memory_70b.assumptions": ISSUE_12_MEMORY},
    "memory_fewest": {"memory_fewest": ISSUE_12_MEMORY},  # 44 -> 43 GPUs: a card holds 80 GiB, not 80e9 bytes
}


def _run(argv: list[str]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    assert rc == 0, f"exit {rc} for {argv}"
    return json.loads(out.getvalue())


def _identity(item):
    if isinstance(item, dict):
        for key in IDENTITY:
            if key in item and isinstance(item[key], (str, int)):
                return (key, item[key])
    return None


def _compare(old, new, path: str, problems: list[str], allowed: dict[str, str]) -> None:
    if any(path.startswith(prefix) for prefix in allowed):
        return
    if isinstance(old, dict):
        if not isinstance(new, dict):
            problems.append(f"{path}: was an object, now {type(new).__name__}")
            return
        for key, value in old.items():
            if key not in new:
                problems.append(f"{path}.{key}: key disappeared")
            else:
                _compare(value, new[key], f"{path}.{key}", problems, allowed)
    elif isinstance(old, list):
        if not isinstance(new, list):
            problems.append(f"{path}: was a list, now {type(new).__name__}")
            return
        by_id = {_identity(item): item for item in new if _identity(item) is not None}
        for i, item in enumerate(old):
            ident = _identity(item)
            match = by_id.get(ident) if ident is not None else (new[i] if i < len(new) else None)
            if match is None:
                problems.append(f"{path}[{ident or i}]: item disappeared")
            else:
                _compare(item, match, f"{path}[{ident[1] if ident else i}]", problems, allowed)
    elif isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool):
        if not math.isclose(old, new, rel_tol=1e-6, abs_tol=1e-12):
            problems.append(f"{path}: {old!r} -> {new!r}")
    elif old != new:
        problems.append(f"{path}: {old!r} -> {new!r}")


@pytest.mark.parametrize("name,command", CASES, ids=[c[0] for c in CASES])
def test_readme_example_json_unchanged(name, command):
    old = json.loads((GOLDEN / f"{name}.json").read_text())
    new = _run(shlex.split(command))
    problems: list[str] = []
    _compare(old, new, name, problems, DELIBERATE.get(name, {}))
    assert not problems, "CLI JSON changed:\n" + "\n".join(problems[:20])

