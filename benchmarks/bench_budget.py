"""Time the budget, cost and catalog calls (issue #2: every planner call must take < 50 ms).

Run: .venv/bin/python benchmarks/bench_budget.py
Each call is repeated; the table shows the median and the slowest repeat per call in milliseconds, plus the
first (cold) call, which includes reading data/gpus.csv or data/models.csv.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

LIMIT_MS = 50.0


def timed(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), max(times)


def main() -> None:
    from planner.core import hardware
    from planner import catalog as models
    from planner.core.budget import BudgetRequest, parse_budget, resolve_budget, training_cost

    cold_start = time.perf_counter()
    hardware.accelerators()
    cold_gpus = (time.perf_counter() - cold_start) * 1e3
    cold_start = time.perf_counter()
    models.catalog()
    cold_models = (time.perf_counter() - cold_start) * 1e3

    cases = {
        "resolve_budget(gpus + days)": lambda: resolve_budget(BudgetRequest(gpus=512, days=30, accelerator="H100")),
        "resolve_budget(flops)": lambda: resolve_budget(BudgetRequest(flops=1e24, accelerator="A100-80GB")),
        "resolve_budget(usd)": lambda: resolve_budget(BudgetRequest(usd=2e6, mfu=0.45)),
        "parse_budget + resolve ('512 H100 for 30 days')":
            lambda: resolve_budget(parse_budget("512 H100 for 30 days")),
        "parse_budget + resolve ('$2M')": lambda: resolve_budget(parse_budget("$2M")),
        "training_cost(65.2e9, 1.4e12, A100-80GB)":
            lambda: training_cost(65.2e9, 1.4e12, "A100-80GB", gpus=2048, mfu=0.48),
        f"model_table ({len(models.catalog())} models)": lambda: models.model_table("H100-SXM", 0.4, 1024),
    }
    print(f"## bench_budget: budget, cost and catalog calls ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()}-core CPU shared with other jobs, Python {platform.python_version()})")
    print(f"cold: accelerators() {cold_gpus:.2f} ms, catalog() {cold_models:.2f} ms")
    print(f"| call | median ms | max ms | < {LIMIT_MS:.0f} ms |")
    print("|---|---|---|---|")
    for name, fn in cases.items():
        median, worst = timed(fn, repeats=200)
        print(f"| {name} | {median:.3f} | {worst:.3f} | {'yes' if worst < LIMIT_MS else 'NO'} |")


if __name__ == "__main__":
    main()
