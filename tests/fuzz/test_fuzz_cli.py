"""Fuzz: every generated upload through `fit` with Approaches 1, 2, 3 and Kaplan (in-process, plus a handful as
real subprocesses). Zero tracebacks, zero hangs; every outcome is a clear error or a fit whose dropped rows are
all listed. Run with -s to see the figures (benchmarks/RESULTS.md, "Upload fuzz")."""
import json
import os

import pytest

from tests.fuzz.cases import CASES
from tests.fuzz.harness import METHODS, figures, run_case

OUTCOMES = []
# What a user must get for the failure classes of issue 8 (checked on the Kaplan fit): kind and a phrase.
EXPECT = {
    "enc_utf16_bom": ("fit", "0 rows dropped"), "enc_utf16_le_nobom": ("fit", "0 rows dropped"),
    "enc_utf16_be_nobom": ("fit", "0 rows dropped"), "enc_utf32": ("fit", "0 rows dropped"),
    "enc_cp1252_quotes": ("fit", "0 rows dropped"), "enc_binary_xlsx": ("error", "binary"),
    "sep_semicolon_decimal_comma": ("fit", "4 points, 0 rows dropped"),
    "sep_tab_decimal_comma": ("fit", "4 points, 0 rows dropped"),
    "val_bool_cell": ("fit", "1 rows dropped"), "val_bool_column": ("error", "loss is not a number"),
    "val_huge_int": ("fit", "1 rows dropped"), "val_constant_loss": ("error", "every loss is 3"),
    "val_same_name_sizes": ("fit", "4 points"), "val_formula_cells": ("fit", "1 rows dropped"),
    "pq_nested_list": ("fit", "0 rows dropped"), "pq_struct": ("fit", "0 rows dropped"),
    "pq_bool_loss": ("error", "loss is not a number"), "pq_many_rows": ("error", "rows (limit 1,000,000)"),
    "pq_many_columns": ("error", "columns (limit 2,000)"), "pq_string_bomb": ("error", "when decoded (limit 512 MB)"), "shape_10k_columns": ("error", "columns (limit 2,000)"),
    "jl_huge_ints": ("fit", "1 rows dropped"), "jl_big_ints_valid": ("error", "tokens above 1e+18 is not a training run"),  # read, then refused by value
    "jl_booleans": ("fit", "6 rows dropped"), "jl_nested": ("fit", "0 rows dropped"),
    "jl_broken_line": ("error", "line 17"), "size_over_limit": ("error", "over the 100 MB upload limit"),
    "size_1_1m_rows": ("error", "rows (limit 1,000,000)"),
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    out = {}
    for case, (name, build) in CASES.items():
        (root / case).mkdir()
        out[case] = root / case / name
        out[case].write_bytes(build())
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_upload_gives_an_error_or_a_listed_fit(case, paths):
    outcomes = [run_case(case, str(paths[case]), m, ["--points", "all"] if case.startswith("size_") else [])
                for m in METHODS]
    OUTCOMES.extend(outcomes)
    bad = [o for o in outcomes if o.kind in ("traceback", "hang")]
    assert not bad, "\n".join(f"{o.method}: {o.kind}: {o.detail}" for o in bad)
    if case in EXPECT:
        kaplan = outcomes[METHODS.index("kaplan")]
        kind, phrase = EXPECT[case]
        assert kaplan.kind == kind and phrase in kaplan.detail, kaplan


def test_figures_are_recorded():
    """The figures for RESULTS.md; also written to $FUZZ_FIGURES when set (benchmarks/bench_upload_fuzz.sh)."""
    line = figures(OUTCOMES)
    print("\nUpload fuzz (CLI):", line)
    if os.environ.get("FUZZ_FIGURES"):
        with open(os.environ["FUZZ_FIGURES"], "a") as f:
            f.write(f"CLI: {line}\n")
    assert OUTCOMES and not [o for o in OUTCOMES if o.kind in ("traceback", "hang")]


@pytest.mark.parametrize("case", ["enc_utf16_le_nobom", "sep_semicolon_decimal_comma", "val_constant_loss",
                                  "pq_nested_list", "jl_huge_ints", "size_over_limit"])
def test_real_subprocess(case, paths, run_cli):
    out = run_cli("fit", paths[case], "--method", "kaplan", "--json", timeout=120)
    assert "Traceback" not in out.stderr
    if out.returncode == 2:
        assert out.stderr.startswith("error: ") and out.stderr.strip().count("\n") == 0
    else:
        assert out.returncode == 0 and json.loads(out.stdout)["n_points"] > 0
