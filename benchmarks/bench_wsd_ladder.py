"""WSD ladder vs IsoFLOP ladder on the same budget grid, same seeds: device time and held-out error.

Each ladder runs end to end through the job system (`python -m planner ladder --design D --seed S`),
in one state directory per benchmark (the tokenizer is trained once). Device time is the summed training
time of the ladder's runs (what the runs occupy a device for; evals and process start-up excluded),
shown with and without the held-out run, which is the same run in both designs. The held-out error is
(predicted - measured) / measured loss of that run, from the Approach 3 fit (the one both designs have),
and from Approach 2 for IsoFLOP.

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


def run_ladder(design: str, preset: str, seed: int, env: dict, extra: list[str]) -> dict:
    start = time.time()
    extra = extra if design == "wsd" else []
    out = subprocess.run([sys.executable, "-m", "planner", "ladder", "--preset", preset, "--design", design,
                          "--seed", str(seed), "--json", "--timeout", "3600", *extra], cwd=REPO, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{design} seed {seed} failed: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    holdout = next(r for r in report["runs"] if r["role"] == "holdout")
    return {"design": design, "seed": seed, "wall_s": time.time() - start,
            "device_s": report["device_seconds"], "ladder_device_s": report["device_seconds"] - holdout["seconds"],
            "runs": len(report["runs"]), "failed": sum(r["status"] != "done" for r in report["runs"]),
            "a": report["fit"]["a"], "measured": report["holdout"]["measured_loss"],
            "error_pct": report["holdout"]["error_pct"]}


def summary(rows: list[dict]) -> None:
    def stats(values):
        return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)

    print(f"\n{'design':8s} {'ladder device s':>16s} {'incl. held-out':>15s} {'A3 error %':>14s} "
          f"{'|A3 error| %':>13s} {'A2 error %':>14s}")
    means = {}
    for design in sorted({r["design"] for r in rows}):
        mine = [r for r in rows if r["design"] == design]
        dev, total = stats([r["ladder_device_s"] for r in mine]), stats([r["device_s"] for r in mine])
        a3 = stats([r["error_pct"].get("approach3", float("nan")) for r in mine])
        abs3 = stats([abs(r["error_pct"].get("approach3", float("nan"))) for r in mine])
        a2 = [r["error_pct"]["approach2"] for r in mine if "approach2" in r["error_pct"]]
        a2s = f"{stats(a2)[0]:+6.2f} ± {stats(a2)[1]:.2f}" if a2 else "—"
        means[design] = dev[0], total[0]
        print(f"{design:8s} {dev[0]:9.1f} ± {dev[1]:4.1f} {total[0]:8.1f} ± {total[1]:4.1f} "
              f"{a3[0]:+6.2f} ± {a3[1]:.2f} {abs3[0]:6.2f} ± {abs3[1]:.2f} {a2s:>14s}")
    if len(means) < 2:
        return
    print(f"\nWSD / IsoFLOP device time: {means['wsd'][0] / means['isoflop'][0]:.2f} (ladder runs), "
          f"{means['wsd'][1] / means['isoflop'][1]:.2f} (incl. the shared held-out run)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--designs", nargs="+", default=["isoflop", "wsd"])
    ap.add_argument("--wsd-args", default="", help="extra `ladder` options for the WSD ladders, e.g. "
                    "'--horizons 2,4,8,16,32 --cooldown-share 0.1'")
    ap.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = ap.parse_args()
    env = {**os.environ, "SCALEPLAN_HOME": os.environ.get("SCALEPLAN_HOME") or tempfile.mkdtemp(prefix="wsd-bench-")}
    rows = []
    for seed in args.seeds:
        for design in args.designs:
            row = run_ladder(design, args.preset, seed, env, args.wsd_args.split())
            rows.append(row)
            print(f"{design:8s} seed {seed}: {row['runs']} runs ({row['failed']} not done), device "
                  f"{row['ladder_device_s']:.1f} s (+ held-out {row['device_s'] - row['ladder_device_s']:.1f} s), "
                  f"wall {row['wall_s']:.0f} s, a = {row['a']}, held-out error {row['error_pct']}", flush=True)
    summary(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
