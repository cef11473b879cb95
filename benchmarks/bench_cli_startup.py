"""CLI start-up: `python -m planner laws` (the quickest command: the parser plus the laws), N runs as
subprocesses, wall and CPU (user + sys) seconds each. CPU time is the steadier number on a shared machine.

    .venv/bin/python benchmarks/bench_cli_startup.py [--runs 10] [--root DIR] [--eager]

--root runs the planner of another checkout (e.g. `git archive <commit> planner data | tar -x -C DIR`);
--eager imports every heavy feature first, as the CLI would if it imported them at module top."""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

EAGER = ("import planner.plan, planner.fitting, planner.recipe.inference, planner.verify.control, "
         "planner.adapt.measure; ")


def _command(eager: bool) -> list[str]:
    if eager:
        return [sys.executable, "-c", EAGER + "from planner.cli import main; main(['laws'])"]
    return [sys.executable, "-m", "planner", "laws"]


def measure(root: Path, runs: int, eager: bool) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(_command(eager), cwd=root, stdout=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--eager", action="store_true")
    args = parser.parse_args()
    walls, cpus = measure(args.root, args.runs, args.eager)
    label = f"{args.root}{' (eager)' if args.eager else ''}"
    print(f"{label}: {args.runs} runs; wall median {statistics.median(walls):.3f} s, min {min(walls):.3f} s; "
          f"CPU median {statistics.median(cpus):.3f} s, min {min(cpus):.3f} s")


if __name__ == "__main__":
    main()
