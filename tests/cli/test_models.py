"""CLI contract of cost, budget, gpus and models, run as a subprocess."""
import json

import pytest


def test_cost_json_reproduces_llama_65b(run_cli):
    out = run_cli("cost", "--params", "65.2e9", "--tokens", "1.4e12", "--gpu", "A100-80GB", "--gpus", "2048",
                  "--mfu", "0.48", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"flops", "gpu_hours", "days", "usd"} <= set(data)
    assert data["flops"] == pytest.approx(6 * 65.2e9 * 1.4e12)
    assert data["gpu_hours"] == pytest.approx(1.016e6, rel=0.01)  # Touvron et al. 2023: 1,022,362 hours
    assert 20 < data["days"] < 22


def test_budget_json_resolves_free_text(run_cli):
    out = run_cli("budget", "512 H100 for 30 days", "--mfu", "0.4", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["accelerator"] == "H100-SXM" and data["gpus"] == 512 and data["days"] == 30
    assert data["gpu_hours"] == 512 * 30 * 24 and data["flops"] == pytest.approx(368640 * 3600 * 989e12 * 0.4)


def test_gpus_and_models_json_tables(run_cli):
    gpus = json.loads(run_cli("gpus", "--json").stdout)
    assert {"H100-SXM", "TPU-v5p", "MI300X"} <= {g["name"] for g in gpus}
    dtypes = {g["name"]: g["peak_dtype"] for g in gpus}  # V100's 125 TFLOP/s is FP16: it has no BF16
    assert dtypes["V100"] == "fp16" and dtypes["H100-SXM"] == "bf16"
    out = run_cli("models", "--gpu", "A100", "--mfu", "0.5", "--json")
    rows = {m["name"]: m for m in json.loads(out.stdout)}
    assert rows["LLaMA-65B"]["implied_mfu"] == pytest.approx(0.477, abs=0.005)
    assert rows["LLaMA-65B"]["cost"]["accelerator"] == "A100-80GB" and rows["LLaMA-65B"]["cost"]["mfu"] == 0.5
    assert rows["GPT-2"]["compute_flops"] is None


def test_human_output(run_cli):
    out = run_cli("budget", "$2M")
    assert out.returncode == 0 and "gpu_hours:" in out.stdout and "gpus_assumed: True" in out.stdout


@pytest.mark.parametrize("args", [
    ["cost", "--params", "7e9", "--tokens", "1e12", "--gpu", "Z80"],
    ["cost", "--params", "7e9", "--tokens", "1e12", "--mfu", "0"],
    ["cost", "--params", "7e9", "--tokens", "1e12", "--mfu", "1.5"],
    ["cost", "--params=-7e9", "--tokens", "1e12"],
    ["budget", "lots of compute"],
    ["models", "--mfu", "1.5"],
])
def test_errors_are_one_line_on_stderr_with_exit_2(run_cli, args):
    out = run_cli(*args)
    assert out.returncode == 2, args
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_negative_params_error_names_the_problem(run_cli):
    out = run_cli("cost", "--params=-7e9", "--tokens", "1e12")
    assert out.returncode == 2 and "params must be a positive number" in out.stderr
