"""Reading and validating uploaded training runs (loss curves or final losses) for the Fit page and CLI.

Two layouts are accepted, from CSV (any common delimiter or encoding), Parquet or JSON lines:
- tidy: one row per evaluation with `run`, `params`, `tokens` and/or `flops`, `loss`, optional `step`,
  `unique_tokens` (other spellings are recognised, or mapped with `ColumnMapping`);
- wide (W&B / TensorBoard export): a `step` (or `tokens`) column and one loss column per run; run sizes
  come from a side table (`run, params[, tokens_per_step]`) or are parsed from the run name ("olmo-190M").
Rows that cannot be used are dropped and listed (`RunTable.dropped`); a file that cannot be used at all
raises PlannerError saying what is wrong and what to do.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, computed_field

from planner.core.laws import FLOPS_PER_PARAM_TOKEN, MAX_FLOPS
from planner.core.numbers import NUMBER_EXAMPLES, SCALE, is_bool, parse_number
from planner.errors import PlannerError
from planner.fitting import runs
from planner.fitting.files import MAX_UPLOAD_MB, read_table  # noqa: F401 (the page and the CLI read through here)

FIELDS = ("run", "params", "tokens", "flops", "loss", "step", "unique_tokens")
ALIASES = {  # lower-cased column names recognised without a mapping, most specific first
    "run": ["run", "run_name", "name", "experiment", "model", "id"],
    "params": ["params", "parameters", "n_params", "num_params", "model_params", "n", "model_size"],
    "tokens": ["tokens", "n_tokens", "train_tokens", "total_tokens", "d", "tokens_seen"],
    "flops": ["flops", "compute", "c", "train_flops", "total_flops"],
    "loss": ["loss", "val_loss", "eval_loss", "validation_loss", "valid_loss", "test_loss", "train_loss", "l"],
    "step": ["step", "_step", "global_step", "iteration", "iter", "trainer/global_step"],
    "unique_tokens": ["unique_tokens", "unique", "u_d", "unique_data"],
}
_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*([kmbt])(?![a-z])", re.IGNORECASE)
COUNT_FIELDS = ("params", "tokens", "flops", "step", "unique_tokens")  # where a k/M/B/T suffix makes sense


class ColumnMapping(BaseModel):
    """Which column of the upload holds each field (None: recognise it by name)."""

    run: list[str] | str | None = Field(None, description="column(s) naming the run; several are joined")
    params: str | None = None
    tokens: str | None = None
    flops: str | None = None
    loss: str | None = None
    step: str | None = None
    unique_tokens: str | None = None
    flops_unit: float = Field(1.0, gt=0, description="FLOPs per unit of the flops column (1e9 for GFLOPs)")
    tokens_per_step: float | None = Field(None, gt=0, description="tokens = step x this, when no tokens column")


class DroppedRows(BaseModel):
    file: str
    reason: str
    rows: list[int] = Field(description="1-based data rows (the header is row 0)")

    @computed_field
    @property
    def count(self) -> int:
        return len(self.rows)

    def message(self) -> str:
        shown = ", ".join(map(str, self.rows[:12])) + (f" and {len(self.rows) - 12} more" if len(self.rows) > 12 else "")
        return f"{self.file}: dropped {len(self.rows)} row(s) ({shown}): {self.reason}"


class RunTable(BaseModel):
    """Validated evaluations, one per row, in the units the fits use (FLOPs, tokens, params, nats)."""

    run: list[str]
    params: list[float]
    tokens: list[float]
    flops: list[float]
    loss: list[float]
    step: list[float | None]
    unique_tokens: list[float] | None = None
    files: list[str] = []
    dropped: list[DroppedRows] = []
    notes: list[str] = []

    @property
    def n_rows(self) -> int:
        return len(self.loss)

    @property
    def n_runs(self) -> int:
        return len(set(self.run))

    def frame(self) -> pd.DataFrame:
        cols = {f: getattr(self, f) for f in FIELDS if getattr(self, f) is not None}
        return pd.DataFrame(cols)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, **extra) -> "RunTable":
        data = {f: df[f].tolist() for f in FIELDS if f in df.columns}
        data["step"] = [None if pd.isna(s) else float(s) for s in df["step"]] if "step" in df else [None] * len(df)
        return cls(**data, **extra)


# --- recognising the layout ---------------------------------------------------------------------------


def find_column(columns, field: str, explicit: str | None = None) -> str | None:
    if explicit:
        if explicit not in columns:
            raise PlannerError(f"column '{explicit}' (mapped to {field}) is not in the file; columns: {', '.join(columns)}")
        return explicit
    lower = {str(c).lower(): c for c in columns}
    return next((lower[a] for a in ALIASES[field] if a in lower), None)


def parse_size(text) -> float | None:
    """'190M' -> 1.9e8, 'llama-1.1B' -> 1.1e9, 42 -> 42.0; None when there is no size in it."""
    if isinstance(text, (int, float, np.number)):
        return float(text)
    match = _SIZE.search(str(text))
    return float(match.group(1)) * SCALE[match.group(2).lower()] if match else None


def coerce_numbers(column: pd.Series, suffixes: bool = True) -> tuple[pd.Series, np.ndarray]:
    """(floats, not_a_number mask): plain numbers in bulk, every other cell parsed on its own, so one bad
    cell costs its own row only. Booleans are not numbers; integers too big for a float are infinite."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return pd.Series(np.nan, index=column.index), column.notna().to_numpy()
    try:
        values = pd.to_numeric(column, errors="coerce").astype(float)
    except (OverflowError, TypeError, ValueError):  # an integer beyond float range: parse cell by cell
        values = pd.Series(np.nan, index=column.index)
    if column.dtype == object:  # pandas reads True as 1.0
        values[column.map(is_bool).to_numpy(bool)] = np.nan
    todo = values.isna() & column.notna()
    parsed = [parse_number(v, suffixes) for v in column[todo]]
    values[todo] = [np.nan if p is None else p for p in parsed]
    bad = np.zeros(len(column), bool)
    bad[np.flatnonzero(todo.to_numpy())] = [p is None for p in parsed]
    return values, bad


def is_wide(df: pd.DataFrame, mapping: ColumnMapping) -> bool:
    """Wide when there is no loss, params or run column but there is a step/tokens column."""
    if mapping.loss or mapping.params or mapping.run:
        return False
    if any(find_column(df.columns, f) is not None for f in ("loss", "params", "run")):
        return False
    return find_column(df.columns, "step", mapping.step) is not None or find_column(df.columns, "tokens", mapping.tokens) is not None


def wide_to_tidy(df: pd.DataFrame, mapping: ColumnMapping, sizes: pd.DataFrame | None) -> pd.DataFrame:
    """Melt a step x run export into tidy rows; sizes from the side table, else from the run names."""
    x_col = find_column(df.columns, "tokens", mapping.tokens) or find_column(df.columns, "step", mapping.step)
    skip = {x_col} | {c for c in df.columns if str(c).lower() in ALIASES["step"] + ALIASES["tokens"]}
    # W&B adds "<run>__MIN/__MAX" band columns; text columns (a source, a note) are not runs either.
    run_cols = [c for c in df.columns if c not in skip and not str(c).endswith(("__MIN", "__MAX"))
                and pd.to_numeric(df[c], errors="coerce").notna().sum() >= max(1, df[c].notna().sum() // 2)]
    df = df.assign(_row=df.index + 1)  # the file row of each point, for the list of dropped rows
    long = df.melt(id_vars=[x_col, "_row"], value_vars=run_cols, var_name="run", value_name="loss")
    long = long.dropna(subset=["loss"]).reset_index(drop=True)  # W&B leaves blanks where a run has no point
    side = _side_table(sizes)
    long["params"] = [side.get(r, {}).get("params", parse_size(r)) for r in long["run"]]
    missing = sorted({r for r, p in zip(long["run"], long["params"]) if p is None})
    if missing:
        raise PlannerError(f"no model size for run(s) {', '.join(missing[:8])}: add a sizes table "
                           "(columns run, params) or put the size in the run name, e.g. 'run-190M'")
    is_tokens = x_col in (find_column(df.columns, "tokens", mapping.tokens),)
    if is_tokens:
        long["tokens"] = long[x_col]
    else:
        long["step"] = long[x_col]
        per_step = [side.get(r, {}).get("tokens_per_step", mapping.tokens_per_step) for r in long["run"]]
        if any(p is None for p in per_step):
            raise PlannerError("a wide export with a step column needs tokens per step: give tokens_per_step "
                               "(batch size x sequence length) in the sizes table or the mapping")
        long["tokens"] = coerce_numbers(long["step"])[0].to_numpy() * np.array(per_step, dtype=float)
    return long


def _side_table(sizes: pd.DataFrame | None) -> dict[str, dict]:
    if sizes is None:
        return {}
    run_col, params_col = find_column(sizes.columns, "run"), find_column(sizes.columns, "params")
    if run_col is None or params_col is None:
        raise PlannerError(f"the sizes table needs columns run and params (found {', '.join(sizes.columns)})")
    out = {}
    for i, row in sizes.iterrows():
        params = parse_number(row[params_col])
        entry = {"params": params if params is not None and np.isfinite(params) else parse_size(row[params_col])}
        if "tokens_per_step" in sizes.columns:
            per_step = parse_number(row["tokens_per_step"])
            if per_step is None or not np.isfinite(per_step) or per_step <= 0:
                raise PlannerError(f"sizes table row {i + 1}: tokens_per_step '{row['tokens_per_step']}' is not a "
                                   "positive number (batch size x sequence length)")
            entry["tokens_per_step"] = per_step
        out[str(row[run_col])] = entry
    return out


# --- validation ----------------------------------------------------------------------------------------


def _tidy_columns(df: pd.DataFrame, mapping: ColumnMapping, name: str) -> pd.DataFrame:
    """Select and rename the tidy columns (the run key as runs.prepare chose it); raise listing what is missing."""
    cols = {f: find_column(df.columns, f, getattr(mapping, f)) for f in FIELDS if f != "run"}
    missing = [f for f in ("params", "loss") if cols[f] is None]
    if cols["tokens"] is None and cols["flops"] is None and not (cols["step"] and mapping.tokens_per_step):
        missing.append("tokens or flops")
    if missing:
        raise PlannerError(f"{name} lacks column(s) {', '.join(missing)} (found: {', '.join(map(str, df.columns))}); "
                           "rename them or map them to the right columns")
    out = pd.DataFrame({f: df[c] for f, c in cols.items() if c is not None})
    if mapping.run:
        out["run"] = runs.join_key(df, mapping.run)
    else:  # final losses without run names: every row is its own run
        out["run"] = [f"row {i + 1}" for i in df.index]
    out["_row"] = df.index + 1  # 1-based file rows (the index survives the filters)
    return out


# Values past these are not training runs (1e15 parameters, 1e18 tokens, MAX_FLOPS are far beyond any run;
# a loss of 1e3 nats per token is e^1000 perplexity). Uploads with losses near 1e300 crashed the solver.
PLAUSIBLE_MAX = {"params": 1e15, "tokens": 1e18, "flops": MAX_FLOPS, "loss": 1e3, "unique_tokens": 1e18}
# What makes a row the same measurement as another (with its run): dropped within a file and across files.
SAME_ROW = ("params", "tokens", "step", "loss")


def clean(df: pd.DataFrame, name: str, mapping: ColumnMapping | None = None) -> tuple[pd.DataFrame, list[DroppedRows]]:
    """Drop unusable rows, saying which and why; fill tokens from flops (or flops from tokens) by C = 6ND.

    Every cell is read on its own (`coerce_numbers`): a bad cell drops its row, never the column."""
    mapping = mapping or ColumnMapping()
    dropped: list[DroppedRows] = []
    df = df.copy()
    if "_row" not in df:
        df["_row"] = np.arange(1, len(df) + 1)

    def drop(mask, reason):
        nonlocal df
        if mask.any():
            dropped.append(DroppedRows(file=name, reason=reason, rows=df.loc[mask, "_row"].tolist()))
            df = df.loc[~mask]

    numeric = [c for c in ("params", "tokens", "flops", "loss", "step", "unique_tokens") if c in df]
    for col in numeric:
        values, bad = coerce_numbers(df[col], suffixes=col in COUNT_FIELDS)
        if col == "params":  # a model name as size: 'olmo-190M', 'llama-1.1B'
            names = [parse_size(v) for v in df.loc[bad, col]]
            values[bad] = [np.nan if v is None else v for v in names]
            bad[bad] = [v is None for v in names]
        examples = ", ".join(list(dict.fromkeys(repr(str(v)[:30]) for v in df.loc[bad, col]))[:3])
        df[col] = values
        hint = NUMBER_EXAMPLES if col in COUNT_FIELDS else "like 3.25, with a point for decimals"
        drop(bad, f"{col} is not a number ({examples}); write it {hint}, or fix or delete those cells")
    if "flops" in df:
        df["flops"] = df["flops"] * mapping.flops_unit
    if "tokens" not in df and "step" in df and mapping.tokens_per_step:
        df["tokens"] = df["step"] * mapping.tokens_per_step
    required = [c for c in ("params", "loss") if c in df] + [("tokens" if "tokens" in df else "flops")]
    for col in required:
        drop(~np.isfinite(df[col].to_numpy(dtype=float)), f"{col} is empty, NaN, infinite or too large")
    for col in ("params", "tokens", "flops", "loss", "unique_tokens"):
        if col in df:
            drop((df[col] <= 0).to_numpy(), f"{col} must be positive")
    for col, most in PLAUSIBLE_MAX.items():  # a run no one trained: a unit slip, or a corrupt cell
        if col in df:
            drop((df[col] > most).to_numpy(), f"{col} above {most:.0e} is not a training run (a unit slip?)")
    if "tokens" not in df:
        df["tokens"] = df["flops"] / (FLOPS_PER_PARAM_TOKEN * df["params"])
    elif "flops" not in df or df["flops"].isna().any():
        df["flops"] = df["flops"].fillna(FLOPS_PER_PARAM_TOKEN * df["params"] * df["tokens"]) if "flops" in df \
            else FLOPS_PER_PARAM_TOKEN * df["params"] * df["tokens"]
    drop(df.duplicated(subset=["run"] + [c for c in SAME_ROW if c in df], keep="first").to_numpy(),
         "exact duplicate of an earlier row; the first one is kept")
    if "step" in df and df["step"].notna().all():  # a resumed run often logs a step twice: keep the later
        drop(df.duplicated(subset=["run", "step"], keep="last").to_numpy(),
             "the same run and step appear again further down with another loss; the later row is kept")
    return df, dropped


def apply_filters(df: pd.DataFrame, filters: dict[str, str] | None, name: str) -> pd.DataFrame:
    """Keep the rows where each column equals the given value, e.g. {"hparams": "tuned"}: as numbers where both are
    numbers (1.9e8 matches 190000000 and 1.9e+08), else as text."""
    for col, value in (filters or {}).items():
        if col not in df.columns:
            raise PlannerError(f"cannot filter on '{col}': {name} has no such column (columns: {', '.join(map(str, df.columns))})")
        keep = df[col].astype(str) == str(value)
        number = parse_number(str(value))
        if number is not None:
            keep |= pd.to_numeric(df[col], errors="coerce").to_numpy() == number
        if not keep.any():
            raise PlannerError(f"no row of {name} has {col} = {value}; values there: "
                               f"{', '.join(map(str, df[col].astype(str).unique()[:10]))}")
        df = df.loc[keep]  # the index stays the file row, for the list of dropped rows
    return df


def load_runs(files: list[tuple[str, bytes]] | list[str | Path], mapping: ColumnMapping | None = None,
              sizes: pd.DataFrame | None = None, filters: dict[str, str] | None = None,
              split_runs: bool = True) -> RunTable:
    """Read, recognise and validate one or more files into a RunTable (usable rows kept, dropped listed).

    `filters` keeps only rows whose columns equal the given values (one configuration of a sweep)."""
    mapping = mapping or ColumnMapping()
    if not files:
        raise PlannerError("no file given: upload at least one CSV, Parquet or JSON-lines file of runs")
    frames, dropped, notes, names = [], [], [], []
    for item in files:
        name, data = (item if isinstance(item, tuple) else (Path(item).name, read_path(item)))
        raw, read_notes = read_table(name, data)
        notes += read_notes
        if len(raw) == 0:
            raise PlannerError(f"{name} has a header but no data rows")
        raw = apply_filters(raw, filters, name)
        if is_wide(raw, mapping):
            tidy = wide_to_tidy(raw, mapping, sizes)
            notes.append(f"{name}: wide export (one loss column per run) read as {tidy['run'].nunique()} run(s)")
        else:  # several curves under one run name are told apart first (fitting/runs.py)
            raw, file_mapping, split_notes = runs.prepare(raw, mapping, name, split_runs)
            notes += split_notes
            tidy = _tidy_columns(raw, file_mapping, name)
        good, bad = clean(tidy, name, mapping)
        frames.append(good)
        dropped += bad
        names.append(name)
    df = pd.concat(frames, ignore_index=True)
    if len(names) > 1:  # the same rows in two files (a file given twice) would count twice and narrow the intervals
        again = df.duplicated(subset=["run"] + [c for c in SAME_ROW if c in df], keep="first")
        if again.any():
            notes.append(f"{int(again.sum())} row(s) repeat rows of an earlier file (same run, size, tokens and "
                         "loss): counted once")
            df = df.loc[~again].reset_index(drop=True)
    if df.empty:
        raise PlannerError("no usable rows left after validation: " + "; ".join(d.message() for d in dropped))
    df, size_notes = split_by_size(df)
    notes += size_notes
    single = sorted(r for r, n in df.groupby("run").size().items() if n == 1)
    if single and "step" in df and df["step"].notna().any():
        notes.append(f"{len(single)} run(s) have a single point ({', '.join(single[:5])}): fine for Approaches 2 "
                     "and 3, but Approach 1 needs curves")
    has_unique = "unique_tokens" in df and df["unique_tokens"].notna().all()
    return RunTable.from_frame(df.drop(columns=["unique_tokens"]) if "unique_tokens" in df and not has_unique else df,
                               files=names, dropped=dropped, notes=notes)


def split_by_size(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """A run name used for several model sizes names several runs: each size becomes its own run
    ('x (1e+08 params)'), so that no point is lost to another size's 'final' point."""
    sizes = df.groupby("run")["params"].nunique()
    shared = sorted(sizes.index[sizes > 1])
    if not shared:
        return df, []
    mask = df["run"].isin(shared).to_numpy()
    df = df.copy()
    df.loc[mask, "run"] = [f"{r} ({p:.3g} params)" for r, p in zip(df.loc[mask, "run"], df.loc[mask, "params"])]
    return df, [f"{runs.SPLIT_PREFIX} {len(shared)} run name(s) ({', '.join(shared[:3])}"
                f"{', ...' if len(shared) > 3 else ''}) are used for several model sizes: each size is a run of "
                "its own; give each run its own name"]


def read_path(path) -> bytes:
    if not str(path).strip():
        raise PlannerError("no file given: name a CSV, Parquet or JSON-lines file of runs")
    if Path(path).is_dir():
        raise PlannerError(f"{path} is a folder: name a CSV, Parquet or JSON-lines file of runs")
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise PlannerError(f"cannot read {path}: {err.strerror}") from None
