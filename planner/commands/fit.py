"""`fit`: fit scaling laws to uploaded runs (tidy or wide CSV / Parquet / JSON lines)."""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from planner.core import laws
from planner.core.numbers import check_positive
from planner.errors import PlannerError

METHOD_CHOICES = ["approach1", "approach2", "approach3", "kaplan", "data_constrained"]


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise PlannerError(f"{what} '{item}' must look like NAME=VALUE")
        if key.strip() in out:  # the second silently replaced the first
            raise PlannerError(f"{what} names '{key.strip()}' twice; give each name once")
        out[key.strip()] = value.strip()
    return out


def _target_flops(text: str | None, results) -> float | None:
    """--target-flops as the Fit page reads it (1e21, '1e21 FLOPs', '5e3 PF-days'); inf, nan, <= 0 refused."""
    if text is None:
        return None
    value = results.parse_target_flops(text)  # positive and finite, or PlannerError
    if value is None:
        raise PlannerError("give a positive, finite number of FLOPs, e.g. --target-flops 1e21")
    return value


def _budgets(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [check_positive("a budget", float(b)) for b in text.split(",")]
    except ValueError:  # not a number, or inf / nan / <= 0
        raise PlannerError(f"--budgets must be positive, finite numbers of FLOPs separated by commas, "
                           f"e.g. 1e19,1e20,1e21 (got {text})") from None


def _dropped_summary(result):
    """The readable summary lists each reason with its count and first few rows (--json has every row),
    and leaves the same messages out of the notes."""
    short = [d.model_copy(update={"rows": d.rows[:SHOWN_ROWS]}) for d in result.dropped]
    messages = {d.message() for d in result.dropped}
    return result.model_copy(update={"dropped": short, "notes": [n for n in result.notes if n not in messages]})


SHOWN_ROWS = 5


def fit_command(sub) -> Callable:
    p = sub.add_parser("fit", help="fit scaling laws to your runs' losses (Hoffmann Approaches 1-3, Kaplan, "
                                   "data-constrained), with bootstrap intervals")
    p.add_argument("files", nargs="+", help="CSV / Parquet / JSON-lines files (tidy or wide W&B-style)")
    p.add_argument("--method", choices=METHOD_CHOICES, default="approach3")
    p.add_argument("--bootstrap", type=int, default=0, metavar="K", help="bootstrap resamples (runs resampled)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resample", choices=["runs", "points"], default="runs")
    p.add_argument("--target-flops", metavar="C",
                   help="report the optimum at this budget: 1e21, '1e21 FLOPs' or '5e3 PF-days'")
    p.add_argument("--points", choices=["final", "all", "envelope"], default="final",
                   help="each run's last point (default), every point after warmup (intermediate checkpoints: "
                        "a warning), or the lower envelope of each model size")
    p.add_argument("--solver", choices=["varpro", "hoffmann"], default="varpro",
                   help="Approach 3: variable projection (default) or Hoffmann's 4,500-start grid")
    p.add_argument("--overestimate-penalty", type=float, default=1.0, metavar="K",
                   help="Approach 3: weight K on points the law predicts above their loss (envelope fits)")
    p.add_argument("--warmup-fraction", type=float, default=0.05,
                   help="with --points all/envelope: drop points before this fraction of each run's tokens")
    p.add_argument("--no-split", action="store_true",
                   help="keep the run key as given even when it holds several curves (no automatic split)")
    p.add_argument("--loss", choices=["huber", "squared"], default="huber")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber delta")
    p.add_argument("--budgets", help="Approach 2 budgets in FLOPs, comma separated (default: from the data)")
    p.add_argument("--dc-base", choices=["fit", "muennighoff2023"], default="fit",
                   help="data-constrained base law: fitted on single-epoch runs or Muennighoff's published one")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="column for a field (run, params, tokens, flops, loss, step, unique_tokens); "
                        "run may list several columns joined by '+'")
    p.add_argument("--filter", action="append", metavar="COLUMN=VALUE", help="keep only rows with this value")
    p.add_argument("--flops-unit", type=float, default=1.0, help="FLOPs per unit of the flops column (1e9: GFLOPs)")
    p.add_argument("--tokens-per-step", type=float, help="tokens per step, for step-only files")
    p.add_argument("--sizes", help="side table (run, params[, tokens_per_step]) for wide exports")
    p.add_argument("--save-as", metavar="NAME", help="save the fitted law under NAME for the planner")
    p.add_argument("--replace", action="store_true", help="with --save-as: replace a saved law of that name")
    return _run


def _run(args):
    # fitting needs pandas and scipy: imported here so that the other commands start without them
    from planner.fitting import FitOptions, fit_runs, results, to_law, uploads as io

    if args.save_as is not None:  # before the fit: a name that cannot be saved must not cost the fit
        laws.law_path(args.save_as, args.replace)
    target = _target_flops(args.target_flops, results)
    budgets = _budgets(args.budgets)
    fields = _pairs(args.map, "--map")
    unknown = set(fields) - set(io.FIELDS)
    if unknown:
        raise PlannerError(f"--map: unknown field(s) {', '.join(sorted(unknown))}; fields: {', '.join(io.FIELDS)}")
    if "run" in fields:
        fields["run"] = fields["run"].split("+")
    mapping = io.ColumnMapping(**fields, flops_unit=args.flops_unit, tokens_per_step=args.tokens_per_step)
    sizes = None
    if args.sizes:
        sizes, _ = io.read_table(args.sizes, io.read_path(args.sizes))
    table = io.load_runs(args.files, mapping, sizes, _pairs(args.filter, "--filter"), split_runs=not args.no_split)
    options = FitOptions(method=args.method, bootstrap=args.bootstrap, seed=args.seed, resample=args.resample,
                         target_flops=target, points=args.points, loss=args.loss, delta=args.delta,
                         budgets=budgets, dc_base=args.dc_base, solver=args.solver,
                         overestimate_penalty=args.overestimate_penalty, warmup_fraction=args.warmup_fraction)
    with np.errstate(all="ignore"), warnings.catch_warnings():  # extreme inputs: the verdict says it, not stderr
        warnings.simplefilter("ignore", RuntimeWarning)
        result = fit_runs(table, options)
    notes = [d.message() for d in table.dropped] + table.notes + result.notes
    if args.save_as is not None:
        try:
            path = laws.save_law(to_law(result, args.save_as), replace=args.replace)
        except OSError as err:  # a full disk, a read-only state directory
            raise PlannerError(f"cannot save the law as '{args.save_as}': {err.strerror}") from None
        notes.append(f"saved as '{args.save_as}' ({path}); pick it with `optimal --law {args.save_as}`")
    result = result.model_copy(update={"notes": notes})
    if not getattr(args, "json", False):  # the readable summary leaves out the per-point lists
        diag = result.diagnostics and result.diagnostics.model_copy(update={"residuals": []})
        result = _dropped_summary(result.model_copy(update={"diagnostics": diag, "bootstrap_samples": None}))
    return result


COMMANDS = [fit_command]
