"""Figures and tables of the Models & GPUs page, built without a browser."""
import pandas as pd
import pytest

from planner.core.hardware import accelerators
from planner.catalog import model_table
from planner.views import models as plots


@pytest.fixture(scope="module")
def rows():
    return model_table("H100-SXM", 0.4, 1024)


def test_compute_figure_has_one_marker_trace_per_family_and_the_20_tokens_per_param_line(rows):
    fig = plots.compute_figure(rows)
    families = {r.family for r in rows if r.compute_flops is not None}
    assert families <= {t.name for t in fig.data}
    line = next(t for t in fig.data if t.name == "20 tokens/param")
    # Along the line C = 6 N (20 N): at N = 1e9 that is 1.2e20 FLOPs.
    n, c = list(line.x), list(line.y)
    assert c[0] == pytest.approx(120 * n[0] ** 2)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "parameters N (active for MoE)"  # was "parameters per token N"


def test_implied_mfu_figure_has_a_bar_per_model_with_published_hours(rows):
    fig = plots.implied_mfu_figure(rows)
    bars = fig.data[0]
    expected = {r.name for r in rows if r.implied_mfu is not None}
    assert set(bars.y) == expected and "LLaMA-65B" in expected
    assert list(bars.x) == sorted(bars.x)
    reported = fig.data[1]
    assert set(reported.y) == {"Llama-3.1-405B", "TinyLlama-1.1B"}  # PaLM reports MFU but no chip-hours


def test_models_frame_shows_each_model_once_with_cost_columns(rows):
    frame = plots.models_frame(rows)
    assert len(frame) == len(rows) and frame["model"].is_unique
    llama = frame.set_index("model").loc["LLaMA-65B"]
    assert llama["6ND FLOPs"] == "5.48e23" and llama["implied MFU"] == pytest.approx(0.477, abs=0.001)
    assert pd.isna(frame.set_index("model").loc["GPT-2", "cost"])  # no published token count
    assert llama["params"] == "65.2B" and llama["cost"].startswith("$") and llama["wall-clock"].endswith("days")


def test_models_frame_without_cost_leaves_the_cost_columns_empty():
    frame = plots.models_frame(model_table("H100-SXM", None, 1024))
    assert frame[["GPU-hours", "wall-clock", "cost"]].isna().all().all()
    assert frame["6ND FLOPs"].notna().any()


def test_accelerators_frame_lists_every_accelerator_with_price_and_source():
    frame = plots.accelerators_frame(list(accelerators().values()))
    assert len(frame) == len(accelerators())
    assert frame["price source"].str.len().min() > 0 and frame["datasheet"].str.len().min() > 0
    peaks = frame.set_index("accelerator")
    assert peaks.loc["V100", "16-bit type"] == "FP16 (no BF16)" and peaks.loc["A100-80GB", "16-bit type"] == "BF16"
    assert not any(c.startswith("BF16") for c in frame.columns)  # the V100 row is no BF16 figure
