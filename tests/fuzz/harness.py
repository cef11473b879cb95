"""Run one upload through `python -m planner fit` in-process (planner.cli.main) and classify what came out.

Outcomes: "error" (exit 2, one line on stderr starting 'error:'), "fit" (exit 0, JSON whose dropped rows are
all listed with a reason and add up to rows_dropped), "traceback" (any exception escaping main, or a
malformed error/result), "hang" (over the per-case time limit)."""
from __future__ import annotations

import contextlib
import io
import json
import signal
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass

from planner import cli

CASE_SECONDS = 30  # per CLI call: a hang, not a slow fit (the slowest clean case takes a few seconds)
METHODS = ["approach1", "approach2", "approach3", "kaplan"]


class Hang(Exception):
    pass


@dataclass
class Outcome:
    case: str
    method: str
    kind: str  # error | fit | traceback | hang
    detail: str
    dropped: int = 0


def _alarm(signum, frame):
    raise Hang()


def _check_fit(stdout: str) -> tuple[str, str, int]:
    data = json.loads(stdout)
    listed = sum(len(d["rows"]) for d in data.get("dropped", []))
    if listed != data.get("rows_dropped", 0) or any(not d["reason"] or not d["rows"] for d in data["dropped"]):
        return "traceback", f"dropped rows not all listed: {data.get('dropped')}", listed
    return "fit", f"{data['n_points']} points, {listed} rows dropped", listed


def run_case(case: str, path: str, method: str, extra: list[str] = ()) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's RuntimeWarnings are not outcomes
            rc = cli.main(["fit", path, "--method", method, *extra, "--json"])
    except Hang:
        return Outcome(case, method, "hang", f"over {CASE_SECONDS} s")
    except BaseException:  # noqa: BLE001 - anything escaping main is a traceback for the user
        return Outcome(case, method, "traceback", traceback.format_exc(limit=-3))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    stderr = err.getvalue().strip()
    if rc == 2:
        ok = stderr.startswith("error: ") and "\n" not in stderr and "Traceback" not in stderr
        return Outcome(case, method, "error" if ok else "traceback", stderr[:300])
    if rc == 0:
        kind, detail, dropped = _check_fit(out.getvalue())
        return Outcome(case, method, kind, detail, dropped)
    return Outcome(case, method, "traceback", f"exit {rc}: {stderr[:300]}")


def figures(outcomes: list[Outcome]) -> str:
    kinds = Counter(o.kind for o in outcomes)
    with_drops = sum(1 for o in outcomes if o.kind == "fit" and o.dropped)
    cases = len({o.case for o in outcomes})
    return (f"{cases} files x {len(METHODS)} methods = {len(outcomes)} CLI runs: {kinds['error']} clean errors, "
            f"{kinds['fit']} fits ({with_drops} with dropped rows, all listed), {kinds['traceback']} tracebacks, "
            f"{kinds['hang']} hangs")
