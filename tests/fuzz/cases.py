"""Adversarial uploads, generated at test time (no checked-in blobs): `CASES` maps a case id to (file name,
a function returning the file's bytes). Categories: encodings, delimiters, shapes, values, Parquet, JSON
lines, sizes. Each case is something a real export, a spreadsheet or a hostile user can produce."""
from __future__ import annotations

import io
import json
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIZES = [7e7, 1.6e8, 4.1e8, 1e9]
MULTIPLES = [5, 10, 20, 40]
HEADER = ["run", "params", "tokens", "step", "loss"]


def chinchilla(n: float, d: float) -> float:
    """Hoffmann et al. 2022 eq. 10 (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28): a realistic loss."""
    return 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28


def rows(run=lambda i, n: f"m{i}-{n / 1e6:.0f}M") -> list[list]:
    """4 sizes x 4 token multiples, one curve per size (steps 1..4): 16 evaluations."""
    out = []
    for i, n in enumerate(SIZES):
        for s, k in enumerate(MULTIPLES, 1):
            d = n * k
            out.append([run(i, n), n, d, s, round(chinchilla(n, d), 5)])
    return out


def csv_text(body: list[list], header=HEADER, sep: str = ",") -> str:
    return "\n".join(sep.join(map(str, r)) for r in [header] + body) + "\n"


def with_cell(col: str, value, row: int = 1, text: str | None = None) -> Callable[[], bytes]:
    """The base table with one cell (0-based data row `row`, column `col`) replaced by `value`."""
    def build():
        body = rows()
        body[row][HEADER.index(col)] = value
        return (text or csv_text(body)).encode()
    return build


def column_of(col: str, values: list) -> Callable[[], bytes]:
    def build():
        body = rows()
        for r, v in zip(body, values * 16):
            r[HEADER.index(col)] = v
        return csv_text(body).encode()
    return build


def encoded(encoding: str, run_name: str = "modèle-{n}") -> Callable[[], bytes]:
    return lambda: csv_text(rows(lambda i, n: run_name.format(n=i))).encode(encoding)


def delimited(sep: str, decimal_comma: bool = False) -> Callable[[], bytes]:
    def build():
        body = [[str(v).replace(".", ",") if decimal_comma and c == 4 else v for c, v in enumerate(r)] for r in rows()]
        return csv_text(body, sep=sep).encode()
    return build


def parquet(table: pa.Table, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def base_arrow(**extra) -> pa.Table:
    body = rows()
    cols = {h: [r[i] for r in body] for i, h in enumerate(HEADER)}
    return pa.table(cols | {k: v(len(body)) for k, v in extra.items()})


def string_bomb(rows: int, length: int) -> pa.Table:
    """~200 KB on disk, rows x length bytes decoded (issue 8: 'a 0.5 MB file expands to 1.9 GB')."""
    run = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array(["x" * length]))
    return pa.table({"run": run, "params": np.full(rows, 1e8), "tokens": np.full(rows, 1e9), "loss": np.full(rows, 3.0)})


def wide(names: list[str], with_bands: bool = False) -> Callable[[], bytes]:
    """A W&B-style export: step and one loss column per run (size in the run name)."""
    def build():
        header = ["Step"] + [f"{n} - loss" for n in names]
        header += [f"{n} - loss__MIN" for n in names] if with_bands else []
        body = []
        for step in range(1, 6):
            losses = [round(chinchilla(s, s * 4 * step), 4) for s in SIZES[:len(names)]]
            body.append([step * 1000] + losses + (losses if with_bands else []))
        return csv_text(body, header).encode()
    return build


def jsonl(records: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def records() -> list[dict]:
    return [dict(zip(HEADER, r)) for r in rows()]


def many_rows(n_rows: int, n_runs: int = 50) -> Callable[[], bytes]:
    """A large log: `n_runs` curves with n_rows / n_runs evaluations each."""
    def build():
        per = n_rows // n_runs
        lines = ["run,params,tokens,step,loss"]
        for i in range(n_runs):
            n = 5e7 * 1.1**i
            for s in range(1, per + 1):
                d = n * 20 * s / per
                lines.append(f"r{i},{n:.6g},{d:.6g},{s},{chinchilla(n, d):.5f}")
        return ("\n".join(lines) + "\n").encode()
    return build


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    # --- encodings
    "enc_utf8": ("runs.csv", encoded("utf-8")),
    "enc_utf8_sig": ("runs.csv", encoded("utf-8-sig")),
    "enc_utf16_bom": ("runs.csv", encoded("utf-16")),
    "enc_utf16_le_nobom": ("runs.csv", encoded("utf-16-le")),
    "enc_utf16_be_nobom": ("runs.csv", encoded("utf-16-be")),
    "enc_utf32": ("runs.csv", encoded("utf-32")),
    "enc_latin1": ("runs.csv", encoded("latin-1")),
    "enc_cp1252_quotes": ("runs.csv", encoded("cp1252", "“model” – {n} €")),
    "enc_utf16_truncated": ("runs.csv", lambda: encoded("utf-16")()[:-1]),
    "enc_binary_xlsx": ("runs.xlsx", lambda: b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4),
    "enc_nul_in_middle": ("runs.csv", lambda: csv_text(rows()).encode()[:200] + b"\x00\x00" + csv_text(rows()).encode()[200:]),
    # --- delimiters
    "sep_semicolon": ("runs.csv", delimited(";")),
    "sep_semicolon_decimal_comma": ("runs.csv", delimited(";", decimal_comma=True)),
    "sep_tab_decimal_comma": ("runs.tsv", delimited("\t", decimal_comma=True)),
    "sep_tab": ("runs.tsv", delimited("\t")),
    "sep_pipe": ("runs.txt", delimited("|")),
    "sep_mixed": ("runs.csv", lambda: (csv_text(rows()[:8]) + csv_text(rows()[8:], sep=";").split("\n", 1)[1]).encode()),
    "sep_quoted_commas": ("runs.csv", lambda: csv_text(rows(lambda i, n: f'"model, size {i}"')).encode()),
    "sep_crlf": ("runs.csv", lambda: csv_text(rows()).replace("\n", "\r\n").encode()),
    "sep_unclosed_quote": ("runs.csv", lambda: csv_text(rows()).replace("m1-160M", '"m1-160M').encode()),
    # --- shapes
    "shape_empty": ("runs.csv", lambda: b""),
    "shape_whitespace": ("runs.csv", lambda: b"  \n\n\t \r\n"),
    "shape_bom_only": ("runs.csv", lambda: b"\xef\xbb\xbf"),
    "shape_header_only": ("runs.csv", lambda: b"run,params,tokens,loss\n"),
    "shape_one_column": ("runs.csv", lambda: b"loss\n3.2\n3.1\n3.0\n"),
    "shape_one_row": ("runs.csv", lambda: b"run,params,tokens,loss\na,1e8,2e9,3.1\n"),
    "shape_no_header": ("runs.csv", lambda: csv_text(rows()).split("\n", 1)[1].encode()),
    "shape_missing_loss": ("runs.csv", lambda: csv_text([r[:4] for r in rows()], HEADER[:4]).encode()),
    "shape_ragged_rows": ("runs.csv", lambda: (csv_text(rows()) + "extra,1,2,3,4,5,6,7\n").encode()),
    "shape_duplicate_columns": ("runs.csv", lambda: csv_text([r + [r[4]] for r in rows()], HEADER + ["loss"]).encode()),
    "shape_blank_lines": ("runs.csv", lambda: csv_text(rows()).replace("\n", "\n\n").encode()),
    "shape_10k_columns": ("runs.csv", lambda: csv_text([r + [0] * 10_000 for r in rows()[:3]],
                                                       HEADER + [f"c{i}" for i in range(10_000)]).encode()),
    "shape_500_columns": ("runs.csv", lambda: csv_text([r + [1] * 500 for r in rows()],
                                                       HEADER + [f"c{i}" for i in range(500)]).encode()),
    "shape_wide_sizes_in_names": ("wide.csv", wide(["pythia-70M", "pythia-160M", "pythia-410M", "pythia-1B"])),
    "shape_wide_with_bands": ("wide.csv", wide(["olmo-70M", "olmo-160M", "olmo-410M"], with_bands=True)),
    "shape_wide_no_sizes": ("wide.csv", lambda: b"step,baseline,bigger\n1,4.1,3.9\n2,3.5,3.3\n3,3.2,3.0\n"),
    "shape_only_text": ("runs.csv", lambda: b"a,b,c\nx,y,z\nu,v,w\n"),
    # --- values
    "val_nan_cells": ("runs.csv", with_cell("loss", "NaN")),
    "val_empty_cells": ("runs.csv", with_cell("tokens", "")),
    "val_inf": ("runs.csv", with_cell("loss", "inf")),
    "val_neg_inf": ("runs.csv", with_cell("params", "-inf")),
    "val_negative": ("runs.csv", with_cell("params", "-1e8")),
    "val_zero_loss": ("runs.csv", with_cell("loss", "0")),
    "val_huge_float": ("runs.csv", with_cell("tokens", "1e400")),
    "val_huge_int": ("runs.csv", with_cell("params", "9" * 400)),
    "val_tiny": ("runs.csv", with_cell("loss", "1e-320")),
    "val_bool_column": ("runs.csv", column_of("loss", ["TRUE", "FALSE"])),
    "val_bool_cell": ("runs.csv", with_cell("loss", "TRUE")),
    "val_dates": ("runs.csv", column_of("tokens", ["2024-01-05", "2024-02-01"])),
    "val_formulas": ("runs.csv", lambda: csv_text(rows(lambda i, n: f'"=HYPERLINK(""http://evil.example/{i}"",""x"")"'))
                     .replace("3.", "=1+", 1).encode()),
    "val_formula_unquoted": ("runs.csv", lambda: csv_text(rows(lambda i, n: f'=HYPERLINK("http://e.example/{i}","x")'))
                             .encode()),
    "val_formula_cells": ("runs.csv", with_cell("loss", "@SUM(A1:A9)")),
    "val_markdown_names": ("runs.csv", lambda: csv_text(rows(
        lambda i, n: ["[click](http://evil.example)", "![x](http://evil.example/t.png)", "**bold** _it_",
                      "<img src=http://evil.example/p.png>"][i])).encode()),
    "val_html_script": ("runs.csv", lambda: csv_text(rows(lambda i, n: f"<script>alert({i})</script>")).encode()),
    "val_markdown_in_cells": ("runs.csv", with_cell("loss", "[x](http://evil.example)")),
    "val_template_names": ("runs.csv", lambda: csv_text(rows(lambda i, n: f"%{{x}} :red[run] $x^{i}$")).encode()),
    "val_unicode_names": ("runs.csv", lambda: csv_text(rows(
        lambda i, n: ["模型-小", "🚀 rocket", "\u202eevil\u202c", "zero\u200bwidth"][i])).encode()),
    "val_long_names": ("runs.csv", lambda: csv_text(rows(lambda i, n: f"{i}" + "x" * 20_000)).encode()),
    "val_control_chars": ("runs.csv", lambda: csv_text(rows(lambda i, n: f"r\x07\x1b[31m{i}")).encode()),
    "val_constant_loss": ("runs.csv", column_of("loss", [3.0])),
    "val_near_constant_loss": ("runs.csv", lambda: csv_text([r[:4] + [3.0 + 1e-7 * (i % 3)] for i, r in enumerate(rows())]).encode()),
    "val_same_name_sizes": ("runs.csv", lambda: csv_text(rows(lambda i, n: "run")).encode()),
    "val_suffixes": ("runs.csv", column_of("params", ["70M", "160M", "410M", "1B"] * 4)),
    "val_thousands": ("runs.csv", lambda: csv_text(rows(), sep=";").replace("70000000.0", "70,000,000").encode()),
    "val_size_in_name_only": ("runs.csv", column_of("params", ["olmo-70M", "olmo-160M", "olmo-410M", "olmo-1B"])),
    "val_text_loss": ("runs.csv", column_of("loss", ["three", "two"])),
    "val_all_dropped": ("runs.csv", column_of("params", ["-1"])),
    "val_negative_zero": ("runs.csv", with_cell("loss", "-0.0")),
    "val_increasing_loss": ("runs.csv", lambda: csv_text([r[:4] + [10 - r[4]] for r in rows()]).encode()),
    "val_duplicate_rows": ("runs.csv", lambda: csv_text(rows() + rows()).encode()),
    # --- Parquet
    "pq_good": ("runs.parquet", lambda: parquet(base_arrow())),
    "pq_nested_list": ("runs.parquet", lambda: parquet(base_arrow(tags=lambda n: [[1, 2]] * n))),
    "pq_struct": ("runs.parquet", lambda: parquet(base_arrow(meta=lambda n: [{"lr": 1e-3, "seed": 1}] * n))),
    "pq_only_nested": ("runs.parquet", lambda: parquet(pa.table({"x": [[1.0]] * 4, "y": [{"a": 1}] * 4}))),
    "pq_bool_loss": ("runs.parquet", lambda: parquet(base_arrow().set_column(4, "loss", pa.array([True] * 16)))),
    "pq_dates": ("runs.parquet", lambda: parquet(base_arrow(when=lambda n: pa.array([0] * n, pa.timestamp("s"))))),
    "pq_corrupt": ("runs.parquet", lambda: b"PAR1" + b"\x00garbage" * 50 + b"PAR1"),
    "pq_truncated": ("runs.parquet", lambda: parquet(base_arrow())[:-20]),
    "pq_many_rows": ("runs.parquet", lambda: parquet(pa.table({"run": pa.array(["a"] * 1_200_000).dictionary_encode(),
                                                               "loss": pa.array([3.0] * 1_200_000)}))),
    "pq_string_bomb": ("runs.parquet", lambda: parquet(string_bomb(900_000, 2000))),
    "pq_many_columns": ("runs.parquet", lambda: parquet(pa.table({f"c{i}": [1.0] for i in range(3000)}))),
    "pq_int_column_names": ("runs.parquet", lambda: parquet(pa.table({"0": [1.0, 2.0], "1": [3.0, 4.0]}))),
    # --- JSON lines
    "jl_good": ("runs.jsonl", lambda: jsonl(records())),
    "jl_huge_ints": ("runs.jsonl", lambda: jsonl([r | {"params": 10**400} if i == 0 else r for i, r in enumerate(records())])),
    "jl_big_ints_valid": ("runs.jsonl", lambda: jsonl([r | {"tokens": int(r["tokens"]) * 10**12} for r in records()])),
    "jl_booleans": ("runs.jsonl", lambda: jsonl([r | {"loss": True} if i % 3 == 0 else r for i, r in enumerate(records())])),
    "jl_nested": ("runs.jsonl", lambda: jsonl([r | {"config": {"lr": 1e-3}, "tags": [1, 2]} for r in records()])),
    "jl_not_objects": ("runs.jsonl", lambda: b"1\n2\n3\n"),
    "jl_broken_line": ("runs.jsonl", lambda: jsonl(records()) + b'\n{"run": "x", "params": '),
    "jl_array": ("runs.json", lambda: json.dumps(records()).encode()),
    "jl_nan_tokens": ("runs.jsonl", lambda: jsonl(records()).replace(b'"loss": 3.', b'"loss": NaN, "x": 3.', 2)),
    "jl_deep_nesting": ("runs.jsonl", lambda: b"[" * 100_000 + b"]" * 100_000),
    "jl_mixed_types": ("runs.jsonl", lambda: jsonl([r | {"params": str(r["params"])} if i % 2 else r
                                                     for i, r in enumerate(records())])),
    # --- sizes
    "size_50k_rows": ("big.csv", many_rows(50_000)),
    "size_1_1m_rows": ("big.csv", lambda: b"run,params,tokens,loss\n" + b"a,1e8,1e9,3.0\n" * 1_100_000),
    "size_over_limit": ("huge.csv", lambda: b"run,params,tokens,loss\n" + b"a" * (101 * 2**20)),
}

# A representative 20 for the Fit page (AppTest): one or more of each category, the page-specific risks
# (nested Parquet, markup in names, formulas, pydantic-looking errors) included.
PAGE_CASES = ["enc_utf16_bom", "enc_cp1252_quotes", "enc_binary_xlsx", "sep_semicolon_decimal_comma", "sep_tab",
              "shape_header_only", "shape_one_column", "shape_wide_sizes_in_names", "val_bool_column",
              "val_formulas", "val_markdown_names", "val_html_script", "val_markdown_in_cells", "val_constant_loss",
              "val_same_name_sizes", "val_template_names", "pq_nested_list", "pq_struct", "jl_huge_ints",
              "jl_nested"]
assert len(CASES) >= 80 and set(PAGE_CASES) <= set(CASES) and len(PAGE_CASES) == 20
