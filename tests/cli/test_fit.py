"""`python -m planner fit`: the JSON contract other tools depend on, run as a subprocess."""
import json

from planner.core.settings import DATA_TABLES

SAMPLE = DATA_TABLES / "sample_runs.csv"
PORIAN_TUNED = ["--filter", "source_file=summary_df", "--filter", "dataset=rw", "--filter", "hparams=tuned"]


def test_approach3_json_contract(run_cli):
    out = run_cli("fit", SAMPLE, "--method", "approach3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"E", "A", "B", "alpha", "beta", "a", "b", "n_points"} <= set(data)
    assert data["n_points"] == 25 and abs(data["a"] + data["b"] - 1) < 1e-9
    assert data["ci"] is None and data["optimum"] is None


def test_approach2_prints_budgets_and_bootstrap_intervals(run_cli, shared_dataset):
    out = run_cli("fit", shared_dataset("porian_isoflop_points.csv"), *PORIAN_TUNED, "--method", "approach2",
                  "--bootstrap", "100", "--seed", "1", "--target-flops", "1e21", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert 0.45 < data["a"] < 0.55 and abs(data["a"] + data["b"] - 1) < 1e-9
    good = [b for b in data["budgets"] if b["accepted"]]
    assert len(good) >= 8 and all(b["params_opt"] > 0 and b["tokens_opt"] > 0 for b in good)
    assert data["ci"]["a"]["level"] == 0.95 and data["ci"]["a"]["low"] < data["a"] < data["ci"]["a"]["high"]
    assert data["optimum"]["flops"] == 1e21 and data["ci"]["params_opt"]["low"] > 0


def test_bootstrap_is_reproducible_with_a_seed(run_cli):
    args = ("fit", SAMPLE, "--method", "approach3", "--bootstrap", "30", "--seed", "7", "--target-flops", "1e22",
            "--json")
    first, second = (json.loads(run_cli(*args).stdout) for _ in range(2))
    assert first["ci"] == second["ci"] and {"a", "b", "alpha", "params_opt", "loss_opt"} <= set(first["ci"])


def test_wide_export_with_sizes_table(run_cli):
    out = run_cli("fit", DATA_TABLES / "sample_wide.csv", "--sizes", DATA_TABLES / "sample_wide_sizes.csv",
                  "--method", "approach1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["method"] == "approach1" and data["n_runs"] == 5 and data["frontier"]


def test_mapping_flags_on_the_real_olmo_curves(run_cli, shared_dataset):
    out = run_cli("fit", shared_dataset("olmo_ladder_loss_curves.csv"), "--map", "run=model+xC+rerun",
                  "--map", "params=model", "--map", "loss=c4_en_ce", "--map", "tokens=total_tokens",
                  "--map", "flops=total_training_Gflops", "--flops-unit", "1e9", "--map", "step=_step", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_runs"] == 30


def test_save_as_makes_the_law_available_to_the_planner(run_cli):
    out = run_cli("fit", SAMPLE, "--save-as", "olmo-fit")
    assert out.returncode == 0 and "saved as 'olmo-fit'" in out.stdout
    optimal = json.loads(run_cli("optimal", "--flops", "1e21", "--law", "olmo-fit", "--json").stdout)
    assert optimal["law"] == "olmo-fit" and optimal["params"] > 0


def test_errors_are_one_line_and_exit_2(run_cli, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("run;size\na;1\n")
    for args in [(broken,), (tmp_path / "missing.csv",), (SAMPLE, "--map", "nonsense"),
                 (SAMPLE, "--method", "data_constrained"), (SAMPLE, "--method", "nope")]:
        out = run_cli("fit", *args)
        assert out.returncode == 2, args
        assert out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


def _sample_with_bad_cell(tmp_path, column: str, value: str):
    lines = SAMPLE.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[5].split(",", len(header) - 1)  # data row 5; the source column may hold commas
    cells[header.index(column)] = value
    lines[5] = ",".join(cells)
    path = tmp_path / "runs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dropped_rows_are_listed_in_json_and_summary(run_cli, tmp_path):
    """QA: one bad cell dropped every row; and the summary did not list the dropped row."""
    path = _sample_with_bad_cell(tmp_path, "params", '"190,000,000x"')
    data = json.loads(run_cli("fit", path, "--json").stdout)
    assert data["n_points"] == 25 and data["rows_dropped"] == 1
    assert data["dropped"] == [{"file": "runs.csv", "rows": [5], "count": 1,
                                "reason": data["dropped"][0]["reason"]}]
    assert data["dropped"][0]["reason"].startswith("params is not a number ('190,000,000x')")
    out = run_cli("fit", path)
    assert out.returncode == 0, out.stderr
    assert "rows_dropped: 1" in out.stdout and "params is not a number" in out.stdout and "- [0] 5" in out.stdout


def test_thousands_separators_are_read(run_cli, tmp_path):
    path = _sample_with_bad_cell(tmp_path, "params", '"190,000,000"')
    data = json.loads(run_cli("fit", path, "--json").stdout)
    assert data["rows_dropped"] == 0 and data["dropped"] == []


def test_target_flops_forms_and_bad_values(run_cli):
    data = json.loads(run_cli("fit", SAMPLE, "--target-flops", "1e21 FLOPs", "--json").stdout)
    assert data["optimum"]["flops"] == 1e21
    for bad in ("abc", "-1", "0", "nan", "inf", "1e400"):
        out = run_cli("fit", SAMPLE, f"--target-flops={bad}")
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "positive, finite number of FLOPs" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("fit", SAMPLE, "--method", "approach2", "--budgets", "1e19,inf")
    assert out.returncode == 2 and "--budgets must be positive, finite numbers" in out.stderr


def test_kaplan_reports_the_optimum_at_the_target(run_cli):
    data = json.loads(run_cli("fit", SAMPLE, "--method", "kaplan", "--target-flops", "1e21", "--json").stdout)
    o = data["optimum"]
    assert o["flops"] == 1e21 and abs(6 * o["params"] * o["tokens"] / 1e21 - 1) < 1e-9 and o["loss"] > 0


def test_bad_law_name_is_one_line(run_cli):
    out = run_cli("fit", SAMPLE, "--save-as", "../escape")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "law name" in out.stderr


OLMO_MAP = ("--map", "run=model+xC+rerun", "--map", "params=model", "--map", "loss=c4_en_ce", "--map",
            "tokens=total_tokens", "--map", "flops=total_training_Gflops", "--flops-unit", "1e9", "--map", "step=_step")


def test_verdict_warnings_seconds_and_both_solvers(run_cli, shared_dataset):
    path = shared_dataset("olmo_ladder_loss_curves.csv")
    fits = {}
    for solver in ("varpro", "hoffmann"):
        out = run_cli("fit", path, *OLMO_MAP, "--target-flops", "1e21", "--solver", solver, "--json")
        assert out.returncode == 0, out.stderr
        fits[solver] = json.loads(out.stdout)
    data = fits["varpro"]
    assert data["verdict"] == "ok" and data["warnings"] == [] and 0 < data["seconds"] < 60
    assert {r["method"] for r in data["comparison"]} == {"approach1", "approach2", "approach3", "kaplan"}
    assert data["extrapolation_orders"] < 0  # the target lies inside the runs' compute
    assert data["n_starts"] == 5 and fits["hoffmann"]["n_starts"] == 4500
    assert abs(data["a"] - fits["hoffmann"]["a"]) < 1e-3 and abs(data["E"] - fits["hoffmann"]["E"]) < 1e-2


def _merged_log(tmp_path):
    """One `model` column; each model trained in two sweeps (learning rates, lengths) logged one after the other."""
    rows = ["model,params,lr,tokens,loss"]
    for n in (5e7, 1e8, 2e8, 4e8, 8e8, 1.6e9):
        for lr, multiple in ((1e-3, 20), (3e-4, 60)):
            for f in (0.1, 0.4, 0.7, 1.0):
                d = f * multiple * n
                off = 1.02 if lr == 1e-3 else 1.0  # the higher learning rate is a little worse
                rows.append(f"m{n:.0e},{n},{lr},{d},{off * (1.69 + 406.4 / n**0.34 + 410.7 / d**0.28):.5f}")
    path = tmp_path / "merged.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_merged_sweeps_split_automatically_or_by_the_map(run_cli, tmp_path):
    path = _merged_log(tmp_path)
    auto = json.loads(run_cli("fit", path, "--json").stdout)
    assert auto["n_runs"] == 12 and any("lr change inside them" in n for n in auto["notes"])
    mapped = run_cli("fit", path, "--map", "run=model+lr", "--json")
    assert mapped.returncode == 0, mapped.stderr
    mapped = json.loads(mapped.stdout)
    assert mapped["n_runs"] == 12 and not any("runs split" in n for n in mapped["notes"])
    unsplit = json.loads(run_cli("fit", path, "--no-split", "--json").stdout)
    assert unsplit["verdict"] == "unreliable" and any("hold several curves" in w for w in unsplit["warnings"])


def test_bad_overestimate_penalty_is_one_line(run_cli):
    out = run_cli("fit", SAMPLE, "--overestimate-penalty", "0.5")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_flag_choices_and_defaults_are_the_fit_options_own():
    """In process: the CLI keeps its own copies (it starts without importing planner.fitting); they must not drift."""
    from planner.cli import build_parser
    from planner.fitting import METHODS, FitOptions
    from planner.commands.fit import METHOD_CHOICES

    args, defaults = build_parser()[0].parse_args(["fit", "runs.csv"]), FitOptions()
    assert METHOD_CHOICES == list(METHODS)
    for field in ("method", "points", "solver", "loss", "delta", "warmup_fraction", "overestimate_penalty",
                  "bootstrap", "seed", "resample", "dc_base", "budgets", "target_flops"):
        assert getattr(args, field) == getattr(defaults, field), field
