"""Uploads that never crash: each failure class of issue 8 ("Bad uploads", "Exhaustion") fixed as a class."""
import io as stdio
import json
import tomllib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from planner.core.settings import DATA_TABLES
from planner.errors import PlannerError, validation_sentence
from planner.fitting import FitOptions, files, fit_runs, runs, uploads
from tests.conftest import REPO

HEADER = "run,params,tokens,loss"
ROWS = [("a", 1e8, 2e9, 3.30), ("b", 2e8, 4e9, 3.10), ("c", 4e8, 8e9, 2.95), ("d", 8e8, 1.6e10, 2.83)]


def text(rows=ROWS, sep=",", header=HEADER) -> str:
    return "\n".join([header.replace(",", sep)] + [sep.join(map(str, r)) for r in rows]) + "\n"


def load(data: bytes, name="runs.csv") -> uploads.RunTable:
    return uploads.load_runs([(name, data)])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "latin-1", "cp1252"])
def test_any_encoding_is_read(encoding):
    """UTF-16 without a BOM is recognised by its zero bytes (no chardet); legacy encodings get a note."""
    t = load(text([("modèle " + r[0],) + r[1:] for r in ROWS]).encode(encoding))
    assert t.run[0] == "modèle a" and t.n_rows == 4 and not t.dropped


def test_binary_is_refused_and_broken_utf16_is_named():
    with pytest.raises(PlannerError, match="binary"):
        load(b"PK\x03\x04\x00\x00" + bytes(range(256)))
    with pytest.raises(PlannerError, match="not valid UTF-16"):
        load(text().encode("utf-16")[:-1])


def test_semicolons_with_decimal_commas():
    t = load(text([(r[0], r[1], r[2], str(r[3]).replace(".", ",")) for r in ROWS], sep=";").encode())
    assert t.loss == [r[3] for r in ROWS] and not t.dropped
    assert any("decimal mark in column(s) loss" in n for n in t.notes)


def test_booleans_are_never_numbers():
    """TRUE in a loss cell drops its row with a reason; a whole column of booleans is refused."""
    t = load(text(ROWS[:3] + [("d", 8e8, 1.6e10, "TRUE")]).encode())
    assert t.n_rows == 3 and t.dropped[0].rows == [4] and "loss is not a number ('TRUE')" in t.dropped[0].reason
    with pytest.raises(PlannerError, match="loss is not a number"):
        load(text([r[:3] + ("TRUE",) for r in ROWS]).encode())
    jl = "\n".join(json.dumps(dict(zip(HEADER.split(","), r[:3] + (True,)))) for r in ROWS[:1])
    jl += "\n" + "\n".join(json.dumps(dict(zip(HEADER.split(","), r))) for r in ROWS[1:])
    assert load(jl.encode(), "runs.jsonl").dropped[0].rows == [1]


def test_huge_integers_in_json_lines_are_dropped_not_refused():
    lines = [json.dumps(dict(zip(HEADER.split(","), r))) for r in ROWS]
    lines[0] = lines[0].replace("100000000.0", "1" + "0" * 400)
    t = load("\n".join(lines).encode(), "runs.jsonl")
    assert t.n_rows == 3 and "params is empty, NaN, infinite or too large" in t.dropped[0].reason


def test_bad_json_line_is_named():
    with pytest.raises(PlannerError, match="not valid JSON lines \\(line 2"):
        load(b'{"run": "a"}\n{"run": ', "runs.jsonl")


def _parquet(table) -> bytes:
    buf = stdio.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_nested_parquet_columns_are_skipped_with_a_note():
    cols = {h: [r[i] for r in ROWS] for i, h in enumerate(HEADER.split(","))}
    data = _parquet(pa.table(cols | {"tags": [[1, 2]] * 4, "cfg": [{"lr": 1e-3}] * 4}))
    raw, notes = files.read_table("runs.parquet", data)
    assert list(raw.columns) == HEADER.split(",") and "nested column(s) tags, cfg ignored" in notes[0]
    assert raw["run"].nunique() == 4  # hashable cells: the page can group and filter


def test_parquet_limits_are_checked_from_metadata_before_decoding(monkeypatch):
    data = _parquet(pa.table({"run": ["a"] * 5000, "loss": [3.0] * 5000}))
    monkeypatch.setattr(files, "MAX_ROWS", 1000)
    decoded = []
    monkeypatch.setattr(pq.ParquetFile, "read", lambda *a, **k: decoded.append(1))
    with pytest.raises(PlannerError, match="5,000 rows \\(limit 1,000\\)"):
        files.read_table("big.parquet", data)
    monkeypatch.setattr(files, "MAX_ROWS", 10**6)
    monkeypatch.setattr(files, "MAX_DECODED_BYTES", 100)
    with pytest.raises(PlannerError, match="expands to"):
        files.read_table("big.parquet", data)
    assert not decoded


def test_a_parquet_string_bomb_is_refused_before_its_strings_are_expanded():
    """A repeated string is stored once (dictionary page); 900k rows x 2 kB would be 1.7 GB in memory."""
    from tests.fuzz.cases import parquet, string_bomb

    data = parquet(string_bomb(900_000, 2000))
    assert len(data) < 1_000_000
    with pytest.raises(PlannerError, match="expands to 1,7\\d\\d MB when decoded \\(limit 512 MB\\)"):
        files.read_table("bomb.parquet", data)


def test_text_limits_are_checked_before_parsing(monkeypatch):
    monkeypatch.setattr(files, "MAX_COLUMNS", 10)
    with pytest.raises(PlannerError, match="11 columns \\(limit 10\\)"):
        files.read_table("wide.csv", (",".join(f"c{i}" for i in range(11)) + "\n" + "1," * 10 + "1\n").encode())


def test_one_upload_limit_everywhere():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == files.MAX_UPLOAD_MB == uploads.MAX_UPLOAD_MB
    assert files.MAX_FILE_BYTES == files.MAX_UPLOAD_MB * 2**20  # Streamlit counts MB as MiB
    assert "over the 100 MB upload limit" in files.limit_message("x.csv", 101 * 2**20)


def test_runs_sharing_a_name_across_sizes_are_split():
    t = load(text([("run",) + r[1:] for r in ROWS]).encode())
    assert t.n_runs == 4 and t.n_rows == 4 and any("used for several model sizes" in n for n in t.notes)


def test_constant_loss_is_a_clear_error():
    rows = [(f"r{i}{j}", n, n * 20 * 2**j, 3.0) for i, n in enumerate([1e8, 2e8, 4e8]) for j in range(3)]
    table = load(text(rows).encode())
    for method in ("approach3", "kaplan"):
        with pytest.raises(PlannerError, match="every loss is 3"):
            fit_runs(table, FitOptions(method=method, target_flops=1e21))


def test_fit_ceiling_keeps_final_points_and_says_so():
    rows = [(f"r{i}", n, n * 20 * s / 900, 2 + 1 / s, s) for i, n in enumerate([1e8, 2e8, 4e8]) for s in range(1, 901)]
    df = pd.DataFrame(rows, columns=["run", "params", "tokens", "loss", "step"]).assign(flops=lambda d: 6 * d.params * d.tokens)
    kept, note = runs.cap_points(df, 300)
    assert len(kept) == 300 and "2,700 points is over the fit's ceiling of 300" in note
    assert set(kept.groupby("run")["step"].max()) == {900}  # every run's final point survives
    assert runs.cap_points(df, 5000) == (df, None)


def test_validation_errors_read_as_sentences():
    with pytest.raises(ValidationError) as err:
        uploads.RunTable(run=["a"], params=[1.0], tokens=[1.0], flops=["abc"], loss=[1.0], step=[None])
    assert validation_sentence(err.value) == "flops, row 1 (got 'abc'): should be a valid number, unable to parse string as a number"
    with pytest.raises(ValidationError) as err:
        FitOptions(bootstrap=-1)
    assert validation_sentence(err.value).startswith("bootstrap (got '-1'): should be greater")


def test_sample_still_loads_unchanged():
    t = uploads.load_runs([DATA_TABLES / "sample_runs.csv"])
    assert t.n_runs == 25 and not t.dropped and np.isfinite(t.loss).all()
