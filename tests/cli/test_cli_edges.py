"""Inputs at the edges, as a user types them (found by sweeping every subcommand with zeros, negatives, NaN,
infinities, huge and tiny values, and options that do not go together). Each must be one line on stderr and
exit 2, never a traceback, a hang, a NaN printed as an answer, or an option silently ignored."""
from __future__ import annotations

import json

import pytest

from planner import cli
from planner.core import laws

EDGES = [
    # tracebacks before
    (["params", "--preset", "llama-2-7b", "--kv-heads", "0"], "n_kv_heads"),
    (["claim", "--params", "175e9", "--tokens", "300e9", "--quoted", "0 FLOPs"], "quoted figure must be a positive"),
    (["claim", "--params", "1e200", "--tokens", "1e200", "--quoted", "3640 PF-days"], "6ND must be"),
    # negative key/value heads gave negative memory
    (["memory", "--preset", "llama-2-7b", "--kv-heads", "-32", "--inference"], "greater than 0"),
    # ran for minutes (the shape search had no end), or planned 3e38 GPUs
    (["suggest-shape", "--params", "1e30"], "beyond the largest shape searched"),
    (["plan", "1e60 FLOPs"], "past 1e+30"),
    (["hparams", "--flops", "1e60"], "past 1e+30"),
    (["budget", "1e305 GPU-hours"], "past 1e+30"),  # printed flops: Infinity
    (["optimal", "--flops", "1e24", "--inference-tokens", "inf"], "lifetime inference tokens must be"),
    # text read wrongly: $2MM as $2, the $5 of two budgets, days dropped
    (["budget", "$2MM"], "could not read 'MM'"),
    (["budget", "1e24 FLOPs $5"], "could not read '1e24 FLOPs'"),
    (["plan", "1e24 FLOPs for 3 days"], "could not read '3 days'"),
    # argparse read -1e24 as an option
    (["optimal", "--flops", "-1e24"], "must be a positive number"),
    # options that were silently ignored
    (["optimal", "--flops", "1e24", "--mfu", "1.5"], "MFU must be a fraction from 0.001 to 1"),
    (["optimal", "--flops", "1e24", "--gpu", "FOO"], "unknown accelerator 'FOO'"),
    (["hparams", "--params", "7e9", "--tokens", "1e12", "--law", "kaplan2020"], "drop --law"),
    (["memory", "--preset", "llama-2-7b", "--gpu-memory-gb", "80", "--gpus", "4"], "not both"),
    (["cost", "--params", "7e9", "--tokens", "1e12", "--preset", "llama-2-7b"], "--preset sets the model shape"),
    (["claim", "--vision", "clip-vit-l-14", "--params", "1e9", "--quoted", "300 PF-days"], "not both"),
    # 0 read as "not given"
    (["memory", "--preset", "llama-2-7b", "--seq", "0"], "--seq must be a positive number"),
    (["memory", "--preset", "llama-2-7b", "--gpu-memory-gb", "0"], "--gpu-memory-gb must be a positive"),
    # answers about another model, or impossible ones
    (["cost", "--params", "7e9", "--tokens", "1e12", "--mfu", "auto", "--preset", "tiny"], "--preset tiny has"),
    (["adapt-estimate", "--method", "lora", "--preset", "llama-2-7b", "--rank", "100000"],
     "LoRA rank 100,000 is above 4,096"),
    (["parallel", "--preset", "gpt2-xl", "--gpus", "8", "--seq", "4096"], "1,024 learned positions"),
    (["jobs", "prune", "--days", "nan"], "finite"),
    (["ladder", "--ladder", ""], "no ladder ''"),  # started a new 13-run ladder
    (["ladder", "--corpus", "planner", "--design-only"], "is a folder"),
    (["fit", ""], "no file given"),
    (["fit", "planner"], "planner is a folder"),
    (["fit", "data/sample_runs.csv", "--bootstrap", "2"], "at least 20 bootstrap resamples"),
    (["fit", "data/sample_runs.csv", "--delta", "inf"], "delta"),
    # second sweep: options a design or a mode would not read, repeated values, advice that did not work
    (["fit", "data/sample_runs.csv", "--filter", "run=a", "--filter", "run=b"], "--filter names 'run' twice"),
    (["ladder", "--design-only", "--gpu-hours", "1", "--budgets", "1e15,3e15"], "not both"),
    (["ladder", "--design-only", "--horizons", "5,10"], "shape the cooldown branches of --design wsd"),
    (["ladder", "--design-only", "--budgets", "1e15,1e15"], "lists a value twice"),
    (["ladder", "--design-only", "--design", "wsd", "--horizons", "1e9,1e10,1e11"], "only 0 model size(s)"),
    (["ladder", "--design-only", "--preset", "gpu"], "or run it on a GPU (device cuda)"),
    (["memory", "--preset", "llama-2-7b", "--weights-dtype", "int4"], "--weights-dtype does not apply to training memory"),
    (["memory", "--preset", "llama-2-7b", "--inference", "--sharding", "zero3"], "--sharding does not apply to serving memory"),
    (["optimal", "--flops", "1e23", "--mfu", "0.5"], "--mfu does not apply without --inference-tokens"),
    (["hparams", "--flops", "1e21", "--seq", "100000000"], "less than one sequence"),
    (["adapt-estimate", "--method", "lora", "--alpha", "inf"], "finite"),
    (["models", "--gpus", "1000000000"], "past 10,000,000"),
    (["params", "--preset", "gpt2", "--kv-heads", "4"], "GPT-2 blocks"),  # was "gPT-2"
    (["adapt-estimate", "--method", "full", "--rank", "16"], "--rank does not apply to full"),
    (["adapt-estimate", "--method", "prompt", "--alpha", "16"], "--alpha does not apply to prompt"),
    # GPT-2 has learned positions for 1,024 tokens: a longer sequence is not a run of that model
    (["adapt-estimate", "--preset", "gpt2", "--seq", "4096"], "gpt2 has 1,024 learned positions"),
    (["flops-per-token", "--preset", "gpt2", "--seq", "100000"], "gpt2 has 1,024 learned positions"),
    (["memory", "--preset", "gpt2", "--seq", "4096"], "gpt2 has 1,024 learned positions"),
]


@pytest.mark.parametrize("argv,message", EDGES, ids=[" ".join(a)[:60] for a, _ in EDGES])
def test_an_edge_input_is_one_line_and_exit_2(run_cli, argv, message):
    out = run_cli(*argv, timeout=60)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert out.stdout == ""


def test_an_upload_of_impossible_values_is_dropped_with_the_reason(run_cli, tmp_path):
    """Losses near 1e300 crashed the solver with a LinAlgError traceback."""
    path = tmp_path / "huge.csv"
    path.write_text("run,params,tokens,loss\n" + "".join(f"r{i},{1e8 * (i + 1)},{1e9 * (i + 1)},6.6e300\n"
                                                         for i in range(6)))
    out = run_cli("fit", path)
    assert out.returncode == 2 and "loss above 1e+03 is not a training run" in out.stderr


def _strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_kaplan_without_a_falling_loss_says_none_not_nan(run_cli, tmp_path):
    """A sweep whose loss rises with N at the runs' sizes has no L(N) power law: null, not NaN (invalid JSON)."""
    sizes = (3.2e7, 6.5e7, 1.3e8, 2.6e8)
    lines = [f"{run}{i},{n},{tokens},{loss + 0.1 * i}"  # the loss rises with the size in both sweeps
             for run, tokens, loss in (("a", 5e8, 6.0), ("b", 5e9, 5.5)) for i, n in enumerate(sizes)]
    path = tmp_path / "rising.csv"
    path.write_text("run,params,tokens,loss\n" + "\n".join(lines) + "\n")
    out = run_cli("--json", "fit", path, "--method", "kaplan")
    assert out.returncode == 0, out.stderr
    result = _strict_json(out.stdout)
    assert result["N_c_only"] is None and result["alpha_N_only"] < 0


def test_a_file_given_twice_counts_once(run_cli):
    once = _strict_json(run_cli("--json", "fit", "data/sample_runs.csv").stdout)
    twice = _strict_json(run_cli("--json", "fit", "data/sample_runs.csv", "data/sample_runs.csv").stdout)
    assert twice["n_points"] == once["n_points"]
    assert any("repeat rows of an earlier file" in note for note in twice["notes"])


def test_saving_over_a_saved_law_needs_replace(run_cli):
    assert run_cli("fit", "data/sample_runs.csv", "--save-as", "mine").returncode == 0
    again = run_cli("fit", "data/sample_runs.csv", "--save-as", "mine", "--method", "approach2")
    assert again.returncode == 2 and "a law named 'mine' is already saved" in again.stderr
    assert laws.get_law("mine").family == "chinchilla"  # the first fit is still there
    replaced = run_cli("fit", "data/sample_runs.csv", "--save-as", "mine", "--method", "approach2", "--replace")
    assert replaced.returncode == 0 and laws.get_law("mine").family != "chinchilla"


def test_parallel_defaults_to_the_presets_context(run_cli):
    out = _strict_json(run_cli("--json", "parallel", "--preset", "gpt2-xl", "--gpus", "8").stdout)
    assert out["seq_len"] == 1024


def test_plan_with_mfu_auto_and_no_layout_says_what_the_cost_rests_on(run_cli):
    out = _strict_json(run_cli("--json", "plan", "$2M", "--mfu", "auto", "--gpus", "1").stdout)
    note = out["plans"][0]["layout_note"]
    assert "does not fit" in note and "no MFU could be predicted, so time and cost use MFU 0.4" in note


def test_a_result_that_is_not_finite_is_refused_not_printed(monkeypatch, capsys):
    parser, handlers = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: (parser, {**handlers, "laws": lambda a: {"flops": [1.0, 1e308 * 10]}}))
    assert cli.main(["laws"]) == 2
    err = capsys.readouterr()
    assert err.out == "" and err.err.startswith("error: flops.1 comes out as inf")


def test_a_bug_is_one_line_and_exit_1(monkeypatch, capsys):
    parser, handlers = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: (parser, {**handlers, "laws": lambda a: 1 / 0}))
    monkeypatch.delenv("SCALEPLAN_DEBUG", raising=False)
    assert cli.main(["laws"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: internal error (ZeroDivisionError") and "bug" in err[0]



def test_defaults_fit_a_gpt2_models_positions(run_cli):
    """The 2,048-token defaults of `memory` and `adapt-estimate` are cut to GPT-2's 1,024 positions."""
    assert _strict_json(run_cli("--json", "memory", "--preset", "gpt2").stdout)["seq_len"] == 1024
    estimate = _strict_json(run_cli("--json", "adapt-estimate", "--preset", "gpt2").stdout)
    assert any("x 1024 tokens" in line for line in estimate["assumptions"])
