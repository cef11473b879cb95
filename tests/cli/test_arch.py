"""The arch subcommands as a user runs them: `python -m planner params|flops-per-token|memory|...`."""
import json

import pytest


def _json(run_cli, *args):
    result = run_cli("--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_params_of_a_preset(run_cli):
    out = _json(run_cli, "params", "--preset", "llama-2-7b")
    assert out["total"] == 6_738_415_616
    assert out["non_embedding"] == 6_738_415_616 - 2 * 32000 * 4096


def test_params_of_a_custom_shape_and_a_preset_override(run_cli):
    out = _json(run_cli, "params", "--vocab", "512", "--d-model", "128", "--layers", "2", "--heads", "4",
                "--d-ff", "384", "--kv-heads", "2")
    assert out["total"] == 524_928  # the `tiny` preset's shape
    bigger_vocab = _json(run_cli, "params", "--preset", "tiny", "--vocab", "1024")
    assert bigger_vocab["total"] == 524_928 + 2 * 512 * 128


def test_flops_per_token_training_and_inference(run_cli):
    train = _json(run_cli, "flops-per-token", "--preset", "gpt2", "--seq", "1024")
    infer = _json(run_cli, "flops-per-token", "--preset", "gpt2", "--seq", "1024", "--inference")
    assert train["total"] == train["dense"] + train["attention"]
    assert train["dense"] == 3 * infer["dense"]
    assert train["attention"] == 12 * 12 * 768 * 1024 and infer["attention"] == 2 * 12 * 768 * 1024


def test_memory_training_with_zero3(run_cli):
    one = _json(run_cli, "memory", "--preset", "llama-2-7b", "--seq", "2048", "--gpus", "1", "--sharding", "zero3")
    eight = _json(run_cli, "memory", "--preset", "llama-2-7b", "--seq", "2048", "--gpus", "8", "--sharding", "zero3")
    assert one["weights_gb"] + one["grads_gb"] + one["optimizer_gb"] == pytest.approx(16 * 6.738415616)
    assert eight["optimizer_gb"] == pytest.approx(one["optimizer_gb"] / 8)
    assert eight["total_gb"] < one["total_gb"] and eight["assumptions"]


def test_memory_picks_fewest_gpus(run_cli):
    out = _json(run_cli, "memory", "--preset", "llama-2-70b", "--seq", "4096", "--gpu-memory-gb", "80",
                "--sharding", "zero3", "--recompute", "full")
    assert out["total_gb"] <= 80 and out["gpus"] > 1
    serve = _json(run_cli, "memory", "--preset", "llama-2-7b", "--inference", "--seq", "4096")
    assert serve["kv_cache_gb"] == pytest.approx(2.147483648)


def test_memory_that_never_fits_is_one_line_error(run_cli):
    result = run_cli("memory", "--preset", "llama-2-7b", "--gpu-memory-gb", "24", "--sharding", "none")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "does not fit" in result.stderr


def test_suggest_shape(run_cli):
    out = _json(run_cli, "suggest-shape", "--params", "1e9")
    shape = out["shape"]
    assert shape["family"] == "llama" and shape["d_model"] % 128 == 0
    counted = _json(run_cli, "params", "--vocab", shape["vocab_size"], "--d-model", shape["d_model"],
                    "--layers", shape["n_layers"], "--heads", shape["n_heads"], "--d-ff", shape["d_ff"])
    assert counted == out["params"]
    assert counted["total"] == pytest.approx(1e9, rel=0.1)
    assert out["relative_error"] == pytest.approx(counted["total"] / 1e9 - 1)
    kaplan = _json(run_cli, "suggest-shape", "--params", "1e6", "--non-embedding")
    assert kaplan["params"]["non_embedding"] == pytest.approx(1e6, rel=0.1)


def test_presets_and_human_output(run_cli):
    names = [p["name"] for p in _json(run_cli, "presets")]
    assert {"gpt2", "llama-2-70b", "mixtral-8x7b", "tiny"} <= set(names)
    human = run_cli("params", "--preset", "gpt2")
    assert human.returncode == 0 and "total: 124,439,808" in human.stdout


@pytest.mark.parametrize("args", [["params", "--preset", "llama-9"],
                                  ["params", "--d-model", "128"],
                                  ["params", "--preset", "tiny", "--heads", "3"],
                                  ["suggest-shape", "--params", "1e4"]])
def test_bad_input_exits_2_with_one_line(run_cli, args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")
