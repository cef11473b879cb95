"""What a run is, and which of its points a fit may use.

A "run" is one training run: one model, one schedule, one curve whose tokens only grow. Real logs of a
scaling study often hold several curves under one name (one `model` column, several sweeps with other
learning rates or lengths, reruns). Fitting those as one run draws saw-tooth curves and takes the wrong
"final" points, so `identify` (through `prepare`, which uploads.load_runs calls before validation) splits them:
- by configuration columns that vary inside a run name (lr, sweep, total_steps, epochs, seed, xC, ...);
- then by position, where tokens or steps repeat or go backwards (two logs pasted one after the other).

Points of a run (`select`): its final evaluation (default: with a cosine schedule decayed to the run's
length, only the last point is a valid point of L(N, D), Hoffmann et al. 2022 §3.1, Porian et al. 2024),
every point after warmup (intermediate checkpoints overstate the loss: a warning), or the lower envelope
over the runs of each model size. A marker column (`cooldown`, `is_final`) flags WSD cooldown ends, which
are valid points whatever their position in the curve.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Column names (lower case) that describe a run's configuration rather than a measurement.
CONFIG_NAMES = ("lr", "learning_rate", "sweep", "total_steps", "max_steps", "train_steps", "epochs", "num_epochs",
                "epoch_count", "seed", "xc", "rerun", "schedule", "lr_schedule", "warmup", "warmup_steps",
                "batch_size", "weight_decay", "wd", "config", "variant", "tokens_multiplier", "chinchilla_multiple")
MARKER_NAMES = ("cooldown", "is_cooldown", "is_final", "final", "valid_point")
MAX_CONFIG_VALUES = 50  # a column with more distinct values is a measurement, not a setting
SPLIT_PREFIX = "runs split:"  # the start of every note that says runs were split
WARMUP_FRACTION = 0.05  # points before 5% of a run's tokens are warmup (typical warmup: 0.5-5% of steps)


def join_key(raw: pd.DataFrame, cols: list) -> pd.Series:
    """The columns' text joined by spaces, column-wise (a row-wise agg takes ~30 s on 50k rows)."""
    key = raw[cols[0]].astype(str)
    for col in cols[1:]:
        key = key + " " + raw[col].astype(str)
    return key


def _lower(columns) -> dict[str, str]:
    return {str(c).lower(): c for c in columns}


def config_columns(raw: pd.DataFrame, run_cols: list[str], used: set[str]) -> list[str]:
    """Columns that change inside one run name yet look like settings: few distinct values, and (in
    file order) they change at most a few times per run, unlike a metric that changes at every row."""
    if not run_cols:
        return []
    key = join_key(raw, run_cols)
    out = []
    for col in raw.columns:
        if col in used or col in run_cols or str(col).startswith("_") and str(col).lower() not in CONFIG_NAMES:
            continue
        values = raw[col].astype(str)
        if values.nunique() > MAX_CONFIG_VALUES or values.nunique() < 2:
            continue
        varies = values.groupby(key).nunique().max() > 1
        changes = (values != values.shift()).groupby(key).sum().sum() - key.nunique()
        named = str(col).lower() in CONFIG_NAMES
        if varies and (named or changes <= 2 * values.nunique() * key.nunique()) and changes < 0.5 * len(raw):
            out.append(col)
    return out


RESTART_FRACTION = 0.5  # tokens falling below half the run's furthest point: a new curve, not a resume


def restarts(x: pd.Series, key: pd.Series) -> pd.Series:
    """True where a run's tokens (or step) go back to below half of the furthest it had reached: another
    curve starts there. A resumed run re-logs a few steps (back to more than half), seeds repeat the same
    tokens: neither counts."""
    x = pd.to_numeric(x, errors="coerce")
    furthest = x.groupby(key).cummax().groupby(key).shift()
    return ((x.groupby(key).diff() < 0) & (x < RESTART_FRACTION * furthest)).fillna(False)


def reset_segments(raw: pd.DataFrame, key: pd.Series, x_col: str) -> pd.Series:
    """0, 1, 2... per run: a new segment starts at each restart."""
    return restarts(raw[x_col], key).astype(int).groupby(key).cumsum()


def identify(raw: pd.DataFrame, run_cols: list[str], used: set[str], x_col: str | None,
             by_columns: bool = True) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(raw with a `_segment` column where needed, the run key columns, notes saying what was split).

    `used`: columns mapped to a field (params, loss, ...), never part of a run key. `by_columns=False`
    keeps the key's columns as given (still splitting where tokens restart)."""
    if not run_cols:
        return raw, run_cols, []
    notes = []
    extra = config_columns(raw, run_cols, used) if by_columns else []
    if extra:
        before = join_key(raw, run_cols).nunique()
        run_cols = run_cols + extra
        after = join_key(raw, run_cols).nunique()
        notes.append(f"{SPLIT_PREFIX} {'+'.join(map(str, run_cols[:len(run_cols) - len(extra)]))} named {before} "
                     f"run(s) but {', '.join(map(str, extra))} change inside them: runs are told apart by "
                     f"{'+'.join(map(str, run_cols))} ({after} runs); map run= to choose the key yourself")
    if x_col is not None and x_col in raw:
        key = join_key(raw, run_cols)
        seg = reset_segments(raw, key, x_col)
        if seg.max() > 0:
            split_runs = sorted(set(key[seg > 0]))
            raw = raw.assign(_segment=seg)
            run_cols = run_cols + ["_segment"]
            notes.append(f"{SPLIT_PREFIX} {x_col} goes back inside {len(split_runs)} run(s) "
                         f"({', '.join(split_runs[:3])}{', ...' if len(split_runs) > 3 else ''}): several curves "
                         f"under one name, split where {x_col} falls back below half of what the run had reached "
                         f"({int(seg.max()) + 1} pieces at most); "
                         "add the column that tells them apart to run= if there is one")
    return raw, run_cols, notes


def marker_column(columns) -> str | None:
    lower = _lower(columns)
    return next((lower[n] for n in MARKER_NAMES if n in lower), None)


def _truthy(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(["1", "1.0", "true", "yes", "y", "t"])


def keep_marked(raw: pd.DataFrame, run_cols: list[str], marker: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """WSD: each marked point (the end of a cooldown) becomes a run of its own, so that 'final points'
    takes every one of them; the unmarked (stable-phase) points of runs that have marks are left out."""
    marked = _truthy(raw[marker])
    if not marked.any():
        return raw, run_cols, []
    key = join_key(raw, run_cols) if run_cols else pd.Series("", index=raw.index)
    has_marks = marked.groupby(key).transform("any")
    out = raw.loc[marked | ~has_marks]
    out = out.assign(_point=np.where(marked[out.index], "cooldown row " + (out.index + 1).astype(str), ""))
    note = (f"{marker}: {int(marked.sum())} marked point(s) (WSD cooldown ends) are used as final points; "
            f"{int((has_marks & ~marked).sum())} unmarked point(s) of those runs (stable phase) are left out")
    return out, run_cols + ["_point"], [note]


TOTAL_STEPS_NAMES = ("total_steps", "max_steps", "train_steps", "planned_steps")


def unfinished_runs(raw: pd.DataFrame, key: pd.Series, step_col: str | None) -> list[str]:
    """Runs whose last logged step is short of their planned total (a `total_steps` column): their last point
    is an intermediate checkpoint of a schedule decayed for a longer run."""
    lower = _lower(raw.columns)
    total_col = next((lower[n] for n in TOTAL_STEPS_NAMES if n in lower), None)
    if total_col is None or step_col is None:
        return []
    step, total = pd.to_numeric(raw[step_col], errors="coerce"), pd.to_numeric(raw[total_col], errors="coerce")
    last = pd.DataFrame({"step": step, "total": total}).groupby(key).max()
    return sorted(map(str, last.index[last["step"] < 0.98 * last["total"]]))


def prepare(raw: pd.DataFrame, mapping, name: str, split: bool = True):
    """uploads.load_runs' hook for a tidy file: (raw, mapping with the run key, notes). The key is decided
    here only: the mapped columns (each checked), else a recognised run column, else one run per model size
    for curves; plus the WSD marker's and the split's columns."""
    from planner.fitting.uploads import FIELDS, find_column  # uploads imports this module

    cols = {f: find_column(raw.columns, f, getattr(mapping, f)) for f in FIELDS if f != "run"}
    given = [mapping.run] if isinstance(mapping.run, str) else list(mapping.run or [])
    run_cols = [find_column(raw.columns, "run", c) for c in given if c]  # each mapped column must exist
    explicit_key = len(run_cols) > 1  # the user chose a combined key: respect it
    run_cols = run_cols or [c for c in [find_column(raw.columns, "run")] if c is not None]
    if not run_cols and cols["step"] and cols["params"]:  # curves without run names: one run per size
        run_cols = [cols["params"]]
    notes = []
    marker = marker_column(raw.columns)
    if marker is not None and marker not in run_cols:
        raw, run_cols, notes = keep_marked(raw, run_cols, marker)
    used = {c for c in cols.values() if c is not None} | ({marker} if marker else set())
    x_col = cols["tokens"] or cols["step"] or cols["flops"]
    split_notes = []
    if split:
        raw, run_cols, split_notes = identify(raw, run_cols, used, x_col, by_columns=not explicit_key)
    if run_cols:  # without a split too: the marker's cooldown ends stay runs of their own
        mapping = mapping.model_copy(update={"run": run_cols})
    if split and run_cols:
        short = unfinished_runs(raw, join_key(raw, run_cols), cols["step"])
        if short:
            split_notes.append(f"{len(short)} run(s) stopped before their total_steps ({', '.join(short[:3])}"
                               f"{', ...' if len(short) > 3 else ''}): their last point is an intermediate "
                               "checkpoint that overstates the loss; leave them out (--filter) or use the envelope")
    return raw, mapping, [f"{name}: {n}" for n in notes + split_notes]


# --- which points of each run ----------------------------------------------------------------------------


def final_points(df: pd.DataFrame) -> pd.DataFrame:
    """Each run's last evaluation (several when a run name repeats, as seeds do). A WSD cooldown end is one
    too: `keep_marked` made each of them a run of its own."""
    last = df.groupby("run")["tokens"].transform("max")
    keep = np.isclose(df["tokens"], last, rtol=1e-9)
    return df.loc[keep].reset_index(drop=True)


def after_warmup(df: pd.DataFrame, fraction: float = WARMUP_FRACTION) -> tuple[pd.DataFrame, int]:
    """Points past `fraction` of their run's final tokens (each run's last point is always kept)."""
    last = df.groupby("run")["tokens"].transform("max")
    keep = (df["tokens"] >= fraction * last) | np.isclose(df["tokens"], last, rtol=1e-9)
    return df.loc[keep].reset_index(drop=True), int((~keep).sum())


def lower_envelope(df: pd.DataFrame) -> pd.DataFrame:
    """For each model size, the points that set a new lowest loss as tokens grow, over all its runs: the
    best loss reached so far at that size (what a run decayed at that length would at most reach)."""
    parts = []
    for _, grp in df.sort_values(["params", "tokens", "loss"]).groupby("params", sort=False):
        best = grp["loss"].cummin()
        parts.append(grp.loc[grp["loss"] <= best + 1e-12].drop_duplicates("tokens"))
    return pd.concat(parts).reset_index(drop=True)


def select(df: pd.DataFrame, points: str, warmup_fraction: float = WARMUP_FRACTION) -> tuple[pd.DataFrame, int]:
    """(points to fit, number of warmup points dropped) for points = final | all | envelope."""
    if points == "final":
        return final_points(df), 0
    kept, dropped = after_warmup(df.reset_index(drop=True), warmup_fraction)
    return (lower_envelope(kept) if points == "envelope" else kept), dropped


def cap_points(df: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, str | None]:
    """At most `limit` points for a fit: every run's final point, then evenly spaced points of each curve
    (or, with more runs than the limit, evenly spaced runs by compute); a note says what was kept."""
    if len(df) <= limit:
        return df, None
    df = df.reset_index(drop=True)
    final = df.groupby("run")["tokens"].transform("max").to_numpy() == df["tokens"].to_numpy()
    finals = np.flatnonzero(final)
    if len(finals) >= limit:
        compute = (df["params"] * df["tokens"]).to_numpy()[finals]
        by_compute = finals[np.argsort(compute, kind="stable")]
        keep = by_compute[np.linspace(0, len(by_compute) - 1, limit).round().astype(int)]
    else:
        rest = np.flatnonzero(~final)  # file order: each curve's points together, in order
        keep = np.concatenate([finals, rest[np.linspace(0, len(rest) - 1, limit - len(finals)).round().astype(int)]])
    kept = df.loc[np.unique(keep)]
    return kept, (f"{len(df):,} points is over the fit's ceiling of {limit:,}: fitted {len(kept):,} of them "
                  "(each run's final point and evenly spaced points of each curve)")


def has_curves(df: pd.DataFrame) -> bool:
    return bool(df.groupby("run").size().max() > 2)
