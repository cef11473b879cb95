"""`python -m planner fit` as a subprocess: bad uploads and bad options give one readable line and exit 2."""
from planner.core.settings import DATA_TABLES

SAMPLE = DATA_TABLES / "sample_runs.csv"


def test_option_errors_read_as_sentences(run_cli):
    out = run_cli("fit", SAMPLE, "--bootstrap", "-1")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr == "error: bootstrap (got '-1'): should be greater than or equal to 0\n"


def test_utf16_upload_without_bom_fits(run_cli, tmp_path):
    rows = "".join(f"r{i}{j},{n},{n * 20 * 2**j},{1.7 + 400 / n**0.34 + 410 / (n * 20 * 2**j)**0.28:.5f}\n"
                   for i, n in enumerate([1e8, 2e8, 4e8]) for j in range(3))
    path = tmp_path / "runs.csv"
    path.write_bytes(("run,params,tokens,loss\n" + rows).encode("utf-16-le"))
    out = run_cli("fit", path, "--method", "kaplan", "--json")
    assert out.returncode == 0 and '"n_points": 9' in out.stdout and "read as UTF-16-LE" in out.stdout


def test_constant_loss_is_one_line(run_cli, tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("run,params,tokens,loss\n" + "".join(f"r{i},{n},{n * 20},3.0\n" for i, n in enumerate([1e8, 2e8, 4e8])))
    out = run_cli("fit", path, "--method", "kaplan")
    assert out.returncode == 2 and out.stderr.startswith("error: every loss is 3:") and out.stderr.count("\n") == 1


def test_a_run_key_column_that_is_not_in_the_file_is_one_line(run_cli):
    """It was a KeyError traceback (exit 1) unless --no-split was given."""
    for extra in ((), ("--no-split",)):
        out = run_cli("fit", SAMPLE, "--map", "run=nope+model", *extra)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert out.stderr.startswith("error: column 'nope' (mapped to run) is not in the file; columns: run, params")
