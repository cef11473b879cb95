"""The adaptation CLI as a user runs it: the adapt-estimate contract, every method on CPU, bad input."""
import json

import pytest


def test_adapt_estimate_contract(run_cli):
    out = run_cli("adapt-estimate", "--preset", "llama-2-7b", "--method", "lora", "--rank", "8",
                  "--batch", "4", "--seq", "2048", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["trainable_params"] == 32 * 2 * 8 * (4096 + 4096)  # r(d_in + d_out) on q_proj, v_proj
    assert 13 < data["memory_gb"] < 80                               # bf16 7B weights alone are 13.5 GB
    assert data["flops_per_token"] > 4 * 6.7e9
    assert any("peft default" in a for a in data["assumptions"])


def test_adapt_estimate_all_methods_names_the_cheapest_that_fits(run_cli):
    out = run_cli("adapt-estimate", "--preset", "llama-2-70b", "--method", "all", "--batch", "1",
                  "--accelerator", "H100", "--gradient-checkpointing", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [e["method"] for e in data["estimates"]] == ["full", "lora", "qlora", "prompt", "prefix", "ia3",
                                                         "bitfit", "linear-probe", "zero-shot"]
    fits = {e["method"]: e["fits_one_gpu"] for e in data["estimates"]}
    assert fits["qlora"] and not fits["full"]
    assert data["cheapest_fitting"] in [m for m, ok in fits.items() if ok]


def test_gpu_flag_as_in_the_readme_and_accelerator_alias(run_cli):
    # the README's example; --gpu is the spelling of `cost`, `plan` and `models`
    out = run_cli("adapt-estimate", "--preset", "llama-2-70b", "--method", "all", "--gpu", "H100")
    assert out.returncode == 0, out.stderr
    assert "accelerator: H100-SXM" in out.stdout
    gpu = json.loads(run_cli("adapt-estimate", "--gpu", "A100-40GB", "--json").stdout)
    alias = json.loads(run_cli("adapt-estimate", "--accelerator", "A100-40GB", "--json").stdout)
    assert gpu["accelerator"] == alias["accelerator"] == "A100-40GB"
    assert gpu == alias


def test_human_readable_output(run_cli):
    out = run_cli("adapt-estimate", "--preset", "Llama-2-13B", "--method", "qlora")
    assert out.returncode == 0, out.stderr
    assert "trainable_params" in out.stdout and "memory_gb" in out.stdout


@pytest.mark.parametrize("args, words", [
    (["--rank", "0"], "rank must be at least 1"),
    (["--preset", "llama-9-1t"], "unknown model preset"),
    (["--method", "dora"], "unknown adaptation method"),
    (["--targets", "c_attn"], "not found"),
])
def test_bad_input_is_one_clear_line(run_cli, args, words):
    out = run_cli("adapt-estimate", *args)
    assert out.returncode == 2
    assert words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", [["--gradient-checkpointing"], ["--attention", "eager"]])
def test_adapt_refuses_knobs_its_runs_would_not_use(run_cli, flag):
    """The measured run is SDPA without checkpointing: an estimate with other knobs would sit beside it."""
    out = run_cli("adapt", "--steps", "1", *flag)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "measured runs use SDPA attention without gradient checkpointing" in out.stderr


@pytest.mark.slow
def test_adapt_runs_every_method_tiny_on_cpu(run_cli):
    out = run_cli("adapt", "--device", "cpu", "--preset", "tiny", "--steps", "3", "--base-steps", "3",
                  "--corpus-bytes", "60000", "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    runs = {r["method"]: r for r in data["runs"]}
    assert set(runs) == {"full", "lora", "qlora", "prompt", "prefix", "ia3", "bitfit", "linear-probe",
                         "zero-shot"}
    assert runs["qlora"]["status"] == "skipped: needs CUDA + bitsandbytes"
    for name, run in runs.items():
        if name == "qlora":
            continue
        assert run["status"] == "done", (name, run["status"])
        assert run["trainable_params"] == run["estimated_trainable_params"]
        assert run["final_eval_loss"] > 0 and run["peak_memory_gb"] > 0
