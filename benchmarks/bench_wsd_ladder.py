"""WSD ladder vs IsoFLOP ladder on the same budget grid, same seeds: device time and held-out error.

Each ladder runs end to end through the job system (`python -m planner ladder --design D --seed S`),
in one state directory per benchmark (the tokenizer is trained once). Device time, three ways:
- CPU time: the runs' process CPU time while training (`cpu_seconds` of each job's result; evals and
  process start-up excluded). On CPU this is the device time, and other processes sharing the cores do
  not inflate it as they inflate wall-clock;
- wall: the runs' summed training wall-clock (`seconds`), as before;
- FLOPs and optimizer steps the design asks for (`ladder --design-only`): no noise at all.
The whole verification counts: the fit's runs and the held-out check. The held-out point is the same
(N, D) in both designs: a from-scratch cosine run in the IsoFLOP ladder, a cooldown branch of the largest
stable run in the WSD ladder, so the two measured held-out losses also compare branch vs from scratch.
The held-out error is (predicted - measured) / measured loss, from the Approach 3 fit (the one both
designs have), and from Approach 2 for IsoFLOP.

    .venv/bin/python benchmarks/bench_wsd_ladder.py --preset tiny --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _ladder(args: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "planner", "ladder", *args, "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"ladder {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def design_work(design: str, preset: str, env: dict, extra: list[str]) -> dict:
    """FLOPs and optimizer steps the design trains (a branch counts only its own steps)."""
    plan = _ladder(["--preset", preset, "--design", design, "--design-only", *extra], env)
    return {"flops": plan["total_flops"], "steps": sum(r["steps"] - r["start_step"] for r in plan["runs"]),
            "runs": len(plan["runs"])}


def run_ladder(design: str, preset: str, seed: int, env: dict, extra: list[str]) -> dict:
    start = time.time()
    report = _ladder(["--preset", preset, "--design", design, "--seed", str(seed), "--timeout", "3600", *extra], env)
    runs = report["runs"]
    return {"design": design, "seed": seed, "wall_s": time.time() - start,
            "cpu_s": sum(r["cpu_seconds"] or 0.0 for r in runs), "train_wall_s": report["device_seconds"],
            "runs": len(runs), "failed": sum(r["status"] != "done" for r in runs), "a": report["fit"]["a"],
            "measured": report["holdout"]["measured_loss"], "error_pct": report["holdout"]["error_pct"]}


def _stats(values):
    values = [v for v in values if v == v]  # drop NaN (a fit that did not give a prediction)
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(values, spec=".1f", sign=""):
    m, s = _stats(values)
    return f"{m:{sign}{spec}} ± {s:{spec}}"


def summary(rows: list[dict], work: dict[str, dict]) -> None:
    print(f"\n{'design':8s} {'CPU s':>12s} {'wall s':>12s} {'held-out loss':>16s} {'A3 error %':>14s} "
          f"{'|A3 error| %':>13s} {'A2 error %':>14s}")
    for design in work:
        mine = [r for r in rows if r["design"] == design]
        a2 = [r["error_pct"]["approach2"] for r in mine if "approach2" in r["error_pct"]]
        print(f"{design:8s} {_fmt([r['cpu_s'] for r in mine]):>12s} {_fmt([r['train_wall_s'] for r in mine]):>12s} "
              f"{_fmt([r['measured'] for r in mine], '.4f'):>16s} "
              f"{_fmt([r['error_pct'].get('approach3', float('nan')) for r in mine], '.2f', '+'):>14s} "
              f"{_fmt([abs(r['error_pct'].get('approach3', float('nan'))) for r in mine], '.2f'):>13s} "
              f"{(_fmt(a2, '.2f', '+') if a2 else '—'):>14s}")
    if not {"isoflop", "wsd"} <= set(work):
        return
    iso, wsd = ([r for r in rows if r["design"] == d] for d in ("isoflop", "wsd"))
    per_seed = [w["cpu_s"] / i["cpu_s"] for i, w in zip(iso, wsd)]
    print(f"\nWSD / IsoFLOP, whole verification (ladder + held-out check):\n"
          f"  CPU time {_stats([r['cpu_s'] for r in wsd])[0] / _stats([r['cpu_s'] for r in iso])[0]:.2f} "
          f"(per seed {', '.join(f'{x:.2f}' for x in per_seed)}), "
          f"wall {_stats([r['train_wall_s'] for r in wsd])[0] / _stats([r['train_wall_s'] for r in iso])[0]:.2f}, "
          f"FLOPs {work['wsd']['flops'] / work['isoflop']['flops']:.2f}, "
          f"optimizer steps {work['wsd']['steps'] / work['isoflop']['steps']:.2f}")
    gaps = [100 * (w["measured"] - i["measured"]) / i["measured"] for i, w in zip(iso, wsd)]
    print(f"  held-out loss, WSD branch vs from-scratch cosine run (same N, D, seed): "
          f"{', '.join(f'{g:+.2f}%' for g in gaps)}")
    # what a user wants predicted is a real run trained the usual way: WSD's Approach 3 prediction
    # against the IsoFLOP ladder's from-scratch held-out run of the same seed
    vs_scratch = [100 * (w["measured"] * (1 + w["error_pct"]["approach3"] / 100) - i["measured"]) / i["measured"]
                  for i, w in zip(iso, wsd) if "approach3" in w["error_pct"]]
    print(f"  WSD's Approach 3 prediction vs the from-scratch run: {_fmt(vs_scratch, '.2f', '+')} % "
          f"({', '.join(f'{v:+.2f}' for v in vs_scratch)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--designs", nargs="+", default=["isoflop", "wsd"])
    ap.add_argument("--wsd-args", default="", help="extra `ladder` options for the WSD ladders, e.g. "
                    "'--horizons 2,4,8,16 --cooldown-share 0.1'")
    ap.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = ap.parse_args()
    env = {**os.environ, "SCALEPLAN_HOME": os.environ.get("SCALEPLAN_HOME") or tempfile.mkdtemp(prefix="wsd-bench-")}
    extra = {d: args.wsd_args.split() if d == "wsd" else [] for d in args.designs}
    work = {d: design_work(d, args.preset, env, extra[d]) for d in args.designs}
    for d, w in work.items():
        print(f"{d:8s} design: {w['runs']} runs, {w['flops']:.3g} FLOPs, {w['steps']} optimizer steps")
    rows = []
    for seed in args.seeds:
        for design in args.designs:
            row = run_ladder(design, args.preset, seed, env, extra[design])
            rows.append(row)
            print(f"{design:8s} seed {seed}: {row['runs']} runs ({row['failed']} not done), CPU {row['cpu_s']:.1f} s, "
                  f"train wall {row['train_wall_s']:.1f} s, total wall {row['wall_s']:.0f} s, a = {row['a']}, "
                  f"held-out loss {row['measured']:.4f}, error {row['error_pct']}", flush=True)
    summary(rows, work)
    if args.json:
        args.json.write_text(json.dumps({"work": work, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
