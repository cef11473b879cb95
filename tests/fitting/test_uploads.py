"""planner.fitting.uploads: reading uploads in every accepted layout and rejecting broken ones with useful messages."""
import io as stdio

import numpy as np
import pandas as pd
import pytest

from planner.fitting import files, uploads as io
from planner.core.numbers import parse_number
from planner.errors import PlannerError
from planner.core.settings import DATA_TABLES

TIDY = b"run,params,tokens,loss\nr1,1e8,1e9,3.2\nr1,1e8,2e9,3.0\nr2,4e8,1e9,3.0\nr2,4e8,2e9,2.8\n"


def load(data: bytes, name: str = "runs.csv", **kw) -> io.RunTable:
    return io.load_runs([(name, data)], **kw)


def test_tidy_csv_fills_flops_from_tokens():
    t = load(TIDY)
    assert t.n_rows == 4 and t.n_runs == 2 and not t.dropped
    assert t.flops[0] == pytest.approx(6 * 1e8 * 1e9)


def test_flops_only_fills_tokens_and_respects_flops_unit():
    t = load(b"name,N,compute,val_loss\na,1e8,0.6,3.1\nb,2e8,1.2,3.0\n",
             mapping=io.ColumnMapping(flops_unit=1e18))
    assert t.tokens[0] == pytest.approx(0.6e18 / (6 * 1e8))


def test_sample_files_load():
    tidy = io.load_runs([DATA_TABLES / "sample_runs.csv"])
    assert tidy.n_runs == 25 and not tidy.dropped
    wide = io.load_runs([DATA_TABLES / "sample_wide.csv"], sizes=pd.read_csv(DATA_TABLES / "sample_wide_sizes.csv"))
    assert wide.n_runs == 5 and set(wide.params) == {1.9e8, 3.7e8, 7.6e8, 1e9, 3e9}
    assert any("wide export" in n for n in wide.notes)


def test_wide_export_with_sizes_parsed_from_run_names():
    data = b"Step,llama-125M - loss,llama-350M - loss,llama-125M - loss__MIN\n100,4.0,3.9,3.9\n200,3.5,3.3,3.4\n300,,3.1,\n"
    t = load(data, mapping=io.ColumnMapping(tokens_per_step=1e6))
    assert t.n_runs == 2 and t.n_rows == 5  # the blank cell is a missing point, not an error
    assert sorted(set(t.params)) == [1.25e8, 3.5e8] and max(t.tokens) == 3e8


def test_wide_export_without_sizes_says_what_to_do():
    with pytest.raises(PlannerError, match="no model size for run"):
        load(b"step,baseline,bigger\n1,4,3\n2,3,2\n", mapping=io.ColumnMapping(tokens_per_step=1))


@pytest.mark.parametrize("sep", [b";", b"\t", b"|"])
def test_other_delimiters(sep):
    t = load(TIDY.replace(b",", sep))
    assert t.n_rows == 4 and any("separated" in n for n in t.notes)


def test_latin1_encoding_is_read_with_a_note():
    t = load("run,params,tokens,loss\nmodèle,1e8,1e9,3.2\nmodèle,1e8,2e9,3.1\n".encode("latin-1"))
    assert t.run[0] == "modèle" and any("Latin-1" in n for n in t.notes)


def test_missing_columns_are_named():
    with pytest.raises(PlannerError, match=r"lacks column\(s\) params, loss") as err:
        load(b"run,tokens,accuracy\na,1e9,0.5\n")
    assert "found: run, tokens, accuracy" in str(err.value)


def test_bad_cells_are_dropped_and_listed():
    data = (b"run,params,tokens,loss\n"
            b"a,1e8,1e9,3.2\n"       # row 1 ok
            b"a,1e8,2e9,oops\n"      # row 2 non-numeric
            b"b,2e8,1e9,nan\n"       # row 3 NaN
            b"b,2e8,2e9,inf\n"       # row 4 infinite
            b"c,0,1e9,3.0\n"         # row 5 zero size
            b"c,-5,2e9,3.0\n"        # row 6 negative size
            b"d,3e8,1e9,3.1\n"       # row 7 ok
            b"d,3e8,1e9,3.1\n")      # row 8 exact duplicate
    t = load(data)
    assert t.n_rows == 2
    by_reason = {d.reason.split(";")[0].split(" (")[0]: d.rows for d in t.dropped}
    assert by_reason["loss is not a number"] == [2]
    assert "('oops')" in t.dropped[0].reason
    assert by_reason["loss is empty, NaN, infinite or too large"] == [3, 4]
    assert by_reason["params must be positive"] == [5, 6]
    assert by_reason["exact duplicate of an earlier row"] == [8]
    assert "dropped 1 row(s) (2)" in t.dropped[0].message()


def _sample_with(cell_row: int, column: str, value: str) -> bytes:
    """data/sample_runs.csv with one cell replaced (data row `cell_row`, 1-based)."""
    df = pd.read_csv(DATA_TABLES / "sample_runs.csv", dtype=str)
    df.loc[cell_row - 1, column] = value
    return df.to_csv(index=False).encode()


@pytest.mark.parametrize("column, value", [("params", "oops"), ("tokens", "n/a?"), ("loss", "oops"),
                                           ("loss", "3,25"), ("flops", "lots")])
def test_one_bad_cell_drops_only_its_row(column, value):
    """QA: a single 'oops' in params used to drop all 516 rows of the sample."""
    t = load(_sample_with(5, column, value), "sample.csv")
    assert t.n_rows == 515 and len(t.dropped) == 1
    assert t.dropped[0].rows == [5] and t.dropped[0].reason.startswith(f"{column} is not a number ('{value}')")
    assert "dropped 1 row(s) (5)" in t.dropped[0].message()


@pytest.mark.parametrize("value, expected", [("190,000,000", 1.9e8), ("190M", 1.9e8), ("0.19B", 1.9e8),
                                             ("190 000 000", 1.9e8), ("190_000_000", 1.9e8), (" 1.9e+08 ", 1.9e8)])
def test_thousands_separators_and_suffixes_are_numbers(value, expected):
    t = load(_sample_with(5, "params", value), "sample.csv")
    assert t.n_rows == 516 and not t.dropped and t.params[4] == expected


def test_cells_are_read_by_the_one_number_parser():
    assert parse_number("1,234,567.5") == 1234567.5 and parse_number("1.4T") == 1.4e12
    assert parse_number("350k") == 3.5e5 and parse_number(7) == 7.0
    assert parse_number("2M", suffixes=False) is None  # a loss of "2M" is a typo, not two million
    assert parse_number("3,25") is None and parse_number("1,23,456") is None and parse_number("1,000 000") is None
    assert parse_number("oops") is None and parse_number(True) is None
    assert np.isnan(parse_number("")) and np.isnan(parse_number(" NaN ")) and np.isnan(parse_number(None))
    assert parse_number("inf") == np.inf  # a number; validation drops it as infinite


def test_dropped_rows_are_file_rows_even_after_a_filter():
    data = b"run,params,tokens,loss,cfg\na,1e8,1e9,3.2,x\nb,1e8,1e9,3.2,y\na,2e8,1e9,oops,x\na,3e8,1e9,3.0,x\n"
    t = load(data, filters={"cfg": "x"})
    assert t.n_rows == 2 and t.dropped[0].rows == [3]


def test_bad_cell_in_a_wide_export_drops_that_point():
    data = b"step,llama-125M,llama-350M\n100,4.0,3.9\n200,3.5,oops\n300,3.2,3.1\n"
    t = load(data, mapping=io.ColumnMapping(tokens_per_step=1e6))
    assert t.n_rows == 5 and t.dropped[0].rows == [2] and t.dropped[0].reason.startswith("loss is not a number")


def test_sizes_table_with_separators_and_a_bad_tokens_per_step():
    wide = b"step,small,big\n1,4.0,3.9\n2,3.5,3.3\n"
    sizes = pd.DataFrame({"run": ["small", "big"], "params": ["125,000,000", "350M"], "tokens_per_step": ["1e6", "1e6"]})
    assert sorted(set(load(wide, sizes=sizes).params)) == [1.25e8, 3.5e8]
    with pytest.raises(PlannerError, match="tokens_per_step 'lots' is not a positive number"):
        load(wide, sizes=sizes.assign(tokens_per_step=["1e6", "lots"]))


def test_repeated_step_keeps_the_later_row():
    t = load(b"run,params,tokens,step,loss\na,1e8,1e9,10,3.5\na,1e8,1e9,10,3.4\na,1e8,2e9,20,3.2\n")
    assert t.loss == [3.4, 3.2] and "later row is kept" in t.dropped[0].reason


def test_seeds_with_the_same_name_are_kept():
    t = load(b"name,params,tokens,loss\ns,1e8,1e9,3.20\ns,1e8,1e9,3.21\n")
    assert t.n_rows == 2


def test_single_point_curve_is_noted():
    t = load(b"run,params,tokens,step,loss\na,1e8,1e9,1,3.5\na,1e8,2e9,2,3.2\nb,2e8,1e9,1,3.3\n")
    assert any("single point" in n for n in t.notes)


def test_no_usable_rows():
    with pytest.raises(PlannerError, match="no usable rows"):
        load(b"run,params,tokens,loss\na,x,1e9,3\n")


@pytest.mark.parametrize("data, match", [(b"", "is empty"), (b"   \n", "is empty"),
                                          (b"run,params,tokens,loss\n", "no data rows"),
                                          (b"just one column\n1\n", "single column"),
                                          (b"PK\x03\x04\x00\x00binary", "binary file")])
def test_unusable_files(data, match):
    with pytest.raises(PlannerError, match=match):
        load(data)


def test_huge_file_is_refused(monkeypatch):
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 50)  # the one limit lives in planner.fitting.files
    with pytest.raises(PlannerError, match="over the 100 MB upload limit"):
        load(TIDY)


def test_parquet_and_json_lines():
    df = pd.read_csv(stdio.BytesIO(TIDY))
    buf = stdio.BytesIO()
    df.to_parquet(buf)
    assert load(buf.getvalue(), "runs.parquet").n_rows == 4
    assert load(df.to_json(orient="records", lines=True).encode(), "runs.jsonl").n_rows == 4
    with pytest.raises(PlannerError, match="JSON lines"):
        load(b"{not json", "runs.jsonl")
    with pytest.raises(PlannerError, match="Parquet"):
        load(b"PAR1 broken", "runs.parquet")


def test_mapping_and_filters():
    data = b"cfg,size,toks,ce,extra\nA,190M,1e9,3.2,x\nA,370M,1e9,3.0,x\nB,190M,1e9,3.5,x\n"
    t = load(data, mapping=io.ColumnMapping(run=["cfg", "size"], params="size", tokens="toks", loss="ce"),
             filters={"cfg": "A"})
    assert t.run == ["A 190M", "A 370M"] and t.params == [1.9e8, 3.7e8]
    with pytest.raises(PlannerError, match="no row of runs.csv has cfg = C"):
        load(data, mapping=io.ColumnMapping(params="size", tokens="toks", loss="ce"), filters={"cfg": "C"})
    with pytest.raises(PlannerError, match="column 'nope'"):
        load(data, mapping=io.ColumnMapping(params="nope"))


def test_parse_size():
    assert io.parse_size("190M") == 1.9e8
    assert io.parse_size("llama-1.1B-run3") == 1.1e9
    assert io.parse_size("baseline") is None
    assert io.parse_size(42) == 42.0


def test_no_files():
    with pytest.raises(PlannerError, match="no file"):
        io.load_runs([])


def test_values_no_training_run_has_are_dropped_with_the_reason():
    """Losses near 1e300 crashed the solver; params of 1e207 overflowed 6ND into infinity."""
    rows = "".join(f"r{i},{1e8 * (i + 1)},{2e9 * (i + 1)},{3.0 - 0.1 * i}\n" for i in range(4))
    table = load(b"run,params,tokens,loss\n" + rows.encode() + b"big,1e207,1e9,3.0\nbad,1e8,1e9,6.6e300\n")
    assert table.n_rows == 4
    reasons = " ".join(d.reason for d in table.dropped)
    assert "params above 1e+15 is not a training run" in reasons and "loss above 1e+03" in reasons


def test_a_file_given_twice_is_counted_once():
    data = (DATA_TABLES / "sample_runs.csv").read_bytes()
    once = io.load_runs([("a.csv", data)])
    twice = io.load_runs([("a.csv", data), ("b.csv", data)])
    assert twice.n_rows == once.n_rows and any("repeat rows of an earlier file" in n for n in twice.notes)


@pytest.mark.parametrize("path, message", [("", "no file given"), (".", "is a folder")])
def test_a_path_that_is_not_a_file_says_so(path, message):
    with pytest.raises(PlannerError, match=message):
        io.read_path(path)


@pytest.mark.parametrize("value", ["190000000", "1.9e8", "1.9e+08", "190000000.0"])
def test_a_numeric_filter_matches_the_number_however_it_is_written(value):
    """--filter params=1.9e8 was refused: only pandas' own text for the number (190000000.0) matched."""
    df = pd.DataFrame({"params": [1.9e8, 3.7e8, 1.9e8], "run": ["a", "b", "c"]})
    assert list(io.apply_filters(df, {"params": value}, "runs.csv")["run"]) == ["a", "c"]
    assert list(io.apply_filters(df, {"run": "b"}, "runs.csv")["run"]) == ["b"]  # text still matches as text
