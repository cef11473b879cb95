"""Uploaded bytes -> a DataFrame of plain cells, within stated limits, whatever the format or encoding.

Formats: CSV/TSV (',', ';', tab or '|'; decimal commas in ';'-separated files), Parquet, JSON lines (or one JSON
array). Encodings: UTF-8 (with or without BOM), UTF-16/32 (BOM, or BOM-less UTF-16 recognised by its zero
bytes), else Windows-1252/Latin-1 with a note. Everything that is not a number or text becomes text: booleans
("True" is never a loss of 1.0), dates, and nested values (lists, structs: their JSON). Limits are checked
before decoding (Parquet from its metadata, text by counting lines) so a small file cannot expand to gigabytes.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.core.numbers import is_bool, parse_number
from planner.errors import PlannerError

# One upload limit, the same in .streamlit/config.toml (server.maxUploadSize, in MiB as Streamlit counts them):
# beyond it an upload is almost surely the wrong file (a full-resolution log rather than evaluations).
MAX_UPLOAD_MB = 100
MAX_FILE_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MAX_ROWS = 1_000_000  # evaluations: a 1000-run sweep logged every 1% of training is 100k
MAX_COLUMNS = 2_000  # a wide export has three columns per run (loss, __MIN, __MAX)
MAX_CELLS = 20_000_000  # rows x columns; a wide export is melted into this many points at most
MAX_DECODED_BYTES = 512 * 1024 * 1024  # Parquet's uncompressed size: compression can hide a 1000x expansion
DELIMITERS = [",", ";", "\t", "|"]
_BOMS = [(b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")]
_LOOKS_LIKE_JSON = re.compile(r"\s*(\{|\[\s*[\[{])")  # an object, or an array of objects/arrays
_DECIMAL_COMMA_CELL = re.compile(r"\s*[+-]?[\d. '\u00a0]*\d,\d+(e[+-]?\d+)?\s*", re.IGNORECASE)


def limit_message(name: str, size: int) -> str:
    """The one message for a file over the upload limit (the page's uploader states the same limit)."""
    return (f"{name} is {size / 2**20:.0f} MB, over the {MAX_UPLOAD_MB} MB upload limit: keep one row per "
            "evaluation (e.g. every 100th step) and upload again")


def read_table(name: str, data: bytes) -> tuple[pd.DataFrame, list[str]]:
    """Parse one uploaded file into a DataFrame of numbers and text; returns it and notes on how it was read."""
    if len(data) > MAX_FILE_BYTES:
        raise PlannerError(limit_message(name, len(data)))
    if len(data) == 0 or not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise PlannerError(f"{name} is empty: upload a CSV, Parquet or JSON-lines file with a header row and data")
    suffix = Path(name).suffix.lower()
    if data[:4] == b"PAR1" or suffix == ".parquet":
        df, notes = _read_parquet(name, data)
    else:
        text, notes = decode(name, data)
        if suffix in (".jsonl", ".ndjson", ".json") or _LOOKS_LIKE_JSON.match(text):
            df = _read_json_lines(name, text)
        else:
            df, csv_notes = _read_csv(name, text)
            notes += csv_notes
    _check_shape(name, *df.shape)
    return plain_cells(df, name, notes), notes


def _check_shape(name: str, rows: int, columns: int) -> None:
    if rows > MAX_ROWS:
        raise PlannerError(f"{name} has {rows:,} rows (limit {MAX_ROWS:,}): keep one row per evaluation "
                           "(e.g. every 100th step) and upload again")
    if columns > MAX_COLUMNS:
        raise PlannerError(f"{name} has {columns:,} columns (limit {MAX_COLUMNS:,}): upload fewer runs per file")
    if rows * columns > MAX_CELLS:
        raise PlannerError(f"{name} has {rows:,} rows x {columns:,} columns, over the limit of {MAX_CELLS:,} "
                           "cells: thin the curves or split the runs over several files")


# --- encodings ---------------------------------------------------------------------------------------


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'-be' when the zero bytes sit in every other position (ASCII text in UTF-16), else None."""
    even, odd = head[0::2], head[1::2]
    if len(head) < 4:
        return None
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / max(len(odd), 1)
    if zeros_odd > 0.3 and zeros_even < 0.05:
        return "utf-16-le"
    if zeros_even > 0.3 and zeros_odd < 0.05:
        return "utf-16-be"
    return None


def decode(name: str, data: bytes) -> tuple[str, list[str]]:
    """Text of a file in any common encoding (no chardet: BOMs, UTF-16's zero bytes, then UTF-8, cp1252)."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data[:4096]:
        encoding = _utf16_without_bom(data[:4096])
        if encoding is None:
            raise PlannerError(f"{name} looks like a binary file (a spreadsheet?): save it as CSV and upload again")
    if encoding:
        try:
            return data.decode(encoding), [] if encoding == "utf-8-sig" else [f"{name}: read as {encoding.upper()}"]
        except UnicodeDecodeError:
            raise PlannerError(f"{name} starts like {encoding.upper()} text but is not valid {encoding.upper()}: "
                               "save it again as UTF-8 CSV") from None
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        return _decode_legacy(name, data)


def _decode_legacy(name: str, data: bytes) -> tuple[str, list[str]]:
    note = [f"{name} is not UTF-8; read it as Windows-1252/Latin-1 (check the run names)"]
    try:
        return data.decode("cp1252"), note
    except UnicodeDecodeError:  # five bytes cp1252 leaves undefined; Latin-1 maps every byte
        return data.decode("latin-1"), note


# --- formats -----------------------------------------------------------------------------------------


def _read_parquet(name: str, data: bytes) -> tuple[pd.DataFrame, list[str]]:
    """Check rows, columns and decoded size from the footer, then decode only the flat columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        meta, schema = pf.metadata, pf.schema_arrow
    except Exception as err:  # pyarrow raises many types for a corrupt footer
        raise PlannerError(f"{name} is not a readable Parquet file ({type(err).__name__}): export it again") from None
    _check_shape(name, meta.num_rows, len(schema.names))
    _check_decoded(name, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)))
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    flat = [f.name for f in schema if f.name not in nested]
    if not flat:
        raise PlannerError(f"{name} has only nested columns ({', '.join(map(str, nested[:5]))}): export plain "
                           "columns run, params, tokens, loss")
    # Text stays dictionary-encoded until its expanded size is known: the footer counts a repeated string once.
    text = [f.name for f in schema if f.name in flat and _is_text(f.type)]
    try:
        table = pq.ParquetFile(io.BytesIO(data), read_dictionary=text).read(columns=flat)
        _check_decoded(name, table.nbytes + sum(_expanded_bytes(table.column(c)) for c in text))
        df = table.to_pandas()
    except PlannerError:
        raise
    except Exception as err:  # a corrupt page, an unsupported type
        raise PlannerError(f"{name} is not a readable Parquet file ({type(err).__name__}): export it again") from None
    notes = [f"{name}: nested column(s) {', '.join(map(str, nested[:5]))} ignored (lists and structs are not "
             "numbers)"] if nested else []
    return df, notes


def _check_decoded(name: str, size: int) -> None:
    if size > MAX_DECODED_BYTES:
        raise PlannerError(f"{name} expands to {size / 2**20:,.0f} MB when decoded (limit "
                           f"{MAX_DECODED_BYTES / 2**20:,.0f} MB): keep one row per evaluation and export again")


def _is_text(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_binary(arrow_type) \
        or pa.types.is_large_binary(arrow_type)


def _expanded_bytes(column) -> int:
    """Bytes of a dictionary-encoded text column once every cell holds its own copy of its string."""
    import pyarrow.compute as pc

    total = 0
    for chunk in column.chunks:
        lengths = pc.binary_length(chunk.dictionary)
        total += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
    return total


def _read_json_lines(name: str, text: str) -> pd.DataFrame:
    """One JSON object per line (or one array of objects); the first bad line is named in the error."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except (ValueError, RecursionError) as err:
            raise PlannerError(f"{name} is not a valid JSON array ({getattr(err, 'msg', 'too deeply nested')}): "
                               'write one object per line, {"run": ..., "params": ..., "loss": ...}') from None
        lines = list(enumerate(records, 1))
    else:
        lines = [(i, line) for i, line in enumerate(stripped.splitlines(), 1) if line.strip()]
        _check_shape(name, len(lines), 1)
        lines = [(i, _json_line(name, i, line)) for i, line in lines]
    bad = next((i for i, rec in lines if not isinstance(rec, dict)), None)
    if bad is not None:
        raise PlannerError(f"{name} line {bad} is not a JSON object: put one object per line, "
                           '{"run": ..., "params": ..., "tokens": ..., "loss": ...}')
    if not lines:
        raise PlannerError(f"{name} has no JSON objects")
    _check_shape(name, len(lines), max(len(rec) for _, rec in lines))
    return pd.DataFrame.from_records([rec for _, rec in lines])


def _json_line(name: str, i: int, line: str):
    try:
        return json.loads(line)  # Python's json keeps integers of any size (pandas' reader refuses them)
    except (ValueError, RecursionError) as err:
        raise PlannerError(f"{name} is not valid JSON lines (line {i}: {getattr(err, 'msg', 'too deeply nested')}): "
                           'put one JSON object per line, {"run": ..., "params": ..., "tokens": ..., "loss": ...}') from None


def _read_csv(name: str, text: str) -> tuple[pd.DataFrame, list[str]]:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    sep = max(DELIMITERS, key=first.count)  # the delimiter that splits the header into the most columns
    if first.count(sep) == 0:
        raise PlannerError(f"{name} has a single column ('{first[:60]}'): separate the fields with commas, "
                           "semicolons or tabs")
    _check_shape(name, len(lines) - 1, first.count(sep) + 1)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, skip_blank_lines=True,
                         low_memory=False)
    except (pd.errors.ParserError, ValueError, OverflowError) as err:
        raise PlannerError(f"{name} could not be parsed as CSV ({str(err).splitlines()[0][:120]}): check that every "
                           "row has as many fields as the header") from None
    if not isinstance(df.index, pd.RangeIndex):  # pandas made the extra leading fields an index
        raise PlannerError(f"{name}: the data rows have more fields than the header ({df.shape[1]} names): quote "
                           "fields that contain the delimiter, or name every column")
    notes = [] if sep == "," else [f"{name}: fields separated by {'tab' if sep == chr(9) else repr(sep)}"]
    if sep != ",":  # a ';'- or tab-separated file usually comes from a locale whose decimal mark is ','
        converted = _decimal_commas(df)
        if converted:
            notes.append(f"{name}: read ',' as the decimal mark in column(s) {', '.join(converted[:6])}")
    return df, notes


def _decimal_commas(df: pd.DataFrame) -> list[str]:
    """Turn text columns whose cells are mostly decimal-comma numbers into numbers (other cells stay text)."""
    converted = []
    for col in df.columns:
        if not (df[col].dtype == object or pd.api.types.is_string_dtype(df[col].dtype)):
            continue
        cells = df[col].dropna().astype(str)
        commas = cells.str.fullmatch(_DECIMAL_COMMA_CELL)
        if len(cells) and commas.any() and commas.mean() >= 0.5:
            parsed = [parse_number(v, decimal_comma=True) for v in df[col]]
            df[col] = pd.Series([v if p is None else p for v, p in zip(df[col], parsed)], index=df.index, dtype=object)
            converted.append(str(col))
    return converted


# --- plain cells -------------------------------------------------------------------------------------


def _as_text(value):
    if is_bool(value):
        return str(value)
    if isinstance(value, int) and not -2**63 <= value < 2**63:  # beyond Arrow's int64: keep its digits as text
        return str(value)
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)[:200]
    if isinstance(value, (bytes, bytearray)):
        return value[:200].decode("utf-8", "replace")
    return value


def plain_cells(df: pd.DataFrame, name: str, notes: list[str]) -> pd.DataFrame:
    """Column names as unique stripped text; cells numbers or text (hashable, so pages can group and filter)."""
    names = [str(c).strip() or f"column {i + 1}" for i, c in enumerate(df.columns)]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        names[i] = n if seen[n] == 1 else f"{n} ({seen[n]})"
    df = df.set_axis(names, axis=1)
    booleans = []
    for col in df.columns:
        dtype = df[col].dtype
        if pd.api.types.is_bool_dtype(dtype):
            df[col] = df[col].astype(object).where(df[col].notna(), None).map(lambda v: v if v is None else str(v))
            booleans.append(col)
        elif not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
            df[col] = df[col].map(_as_text) if dtype == object else df[col].astype(str)
    if booleans:
        notes.append(f"{name}: column(s) {', '.join(booleans[:6])} hold true/false values, read as text")
    return df
