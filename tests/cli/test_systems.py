"""`parallel`, and `cost` / `plan` with --mfu auto, run as subprocesses."""
import json

import pytest

from planner.systems.published import REALIZED_RANGE, REALIZED_SHARE

KEYS = {"tp", "pp", "dp", "ep", "zero_stage", "micro_batch", "recompute", "memory_gb", "mfu", "tokens_per_s_per_gpu",
        "step_seconds", "alternatives", "breakdown"}


def test_parallel_json_contract(run_cli):
    out = run_cli("parallel", "--preset", "llama-2-7b", "--gpus", "8", "--gpu", "H100", "--seq", "4096", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert KEYS <= set(data)
    assert data["tp"] == 1 and data["fits"] is True
    assert data["alternatives"] and all(a["why_not"] for a in data["alternatives"])


def test_parallel_with_a_batch_and_a_moe(run_cli):
    out = run_cli("parallel", "--preset", "mixtral-8x7b", "--gpus", "32", "--gpu", "H100", "--seq", "4096",
                  "--global-batch-tokens", "2097152", "--json")
    data = json.loads(out.stdout)
    assert data["ep"] > 1 and data["global_batch_tokens"] <= 2097152


def test_parallel_errors_are_one_line(run_cli):
    out = run_cli("parallel", "--preset", "nope", "--gpus", "8")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "unknown model preset" in out.stderr
    out = run_cli("parallel", "--preset", "llama-2-70b", "--gpus", "1", "--gpu", "L4")
    assert out.returncode == 2 and "does not fit" in out.stderr and "Traceback" not in out.stderr


def test_cost_with_mfu_auto_names_the_layout_and_goodput(run_cli):
    out = run_cli("cost", "--params", "65.2e9", "--tokens", "1.4e12", "--gpu", "A100-80GB", "--gpus", "2048",
                  "--mfu", "auto", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["goodput"] == 0.9 and data["layout"].startswith("TP")
    assert 0.3 < data["mfu"] < 0.7
    # Planned at the share of the best layout's MFU that published runs reached, with the hours' 10-90% range.
    assert data["mfu"] == pytest.approx(data["layout_mfu"] * REALIZED_SHARE)
    low, high = data["gpu_hours_range"]
    assert low < data["gpu_hours"] < high
    assert low == pytest.approx(data["gpu_hours"] * REALIZED_SHARE / REALIZED_RANGE[1])
    # ... and how that prediction did on published runs, recomputed by tests/systems/test_goodput.py.
    assert data["gpu_hours_checked"].startswith("checked on 14 published runs: median error 18%")
    given = json.loads(run_cli("cost", "--params", "65.2e9", "--tokens", "1.4e12", "--gpu", "A100-80GB",
                               "--gpus", "2048", "--mfu", "0.48", "--json").stdout)
    assert given["goodput"] == 1.0 and given["layout"] is None and given["gpu_hours_checked"] is None
    assert run_cli("cost", "--params", "7e9", "--tokens", "1e12", "--mfu", "fast").returncode == 2
    human = run_cli("cost", "--params", "65.2e9", "--tokens", "1.4e12", "--gpu", "A100-80GB", "--gpus", "2048",
                    "--mfu", "auto").stdout
    assert f"gpu_hours_range: {low:.4g} – {high:.4g}" in human  # a range on one line, as the JSON's pair


def test_plan_with_mfu_auto_attaches_the_layout(run_cli):
    out = run_cli("plan", "512 H100 for 30 days", "--mfu", "auto", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    law = data["plans"][0]
    assert law["layout"]["tp"] * law["layout"]["pp"] * law["layout"]["dp"] == 512
    assert law["cost"]["mfu"] == pytest.approx(law["layout"]["mfu"] * REALIZED_SHARE)
    assert law["cost"]["layout_mfu"] == law["layout"]["mfu"] and law["cost"]["goodput"] == 0.9
    assert data["budget"]["mfu"] < law["cost"]["mfu"]  # the budget uses the expected MFU x goodput


def test_goodput_lists_every_published_run(run_cli):
    out = run_cli("goodput", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {"LLaMA-65B", "Llama-3.1-405B", "OPT-175B"} <= {r["model"] for r in rows}
    assert all({"implied_goodput", "predicted_gpu_hours", "reported_gpu_hours", "layout"} <= set(r) for r in rows)
