"""The Models & GPUs page runs headless (AppTest): tables, flags, charts, and errors shown in the page."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "models.py")


def _run(**inputs) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    for label, value in inputs.items():
        widget = next(w for w in [*at.selectbox, *at.number_input] if w.label == label)
        widget.set_value(value)
    return at.run() if inputs else at


def _cost_of(at: AppTest, model: str) -> float:
    table = at.dataframe[0].value
    return float(table.loc[table["model"] == model, "cost (USD)"].iloc[0])


def test_page_shows_model_and_accelerator_tables_and_charts():
    at = _run()
    assert not at.exception and not at.error
    models_table, gpus_table = at.dataframe[0].value, at.dataframe[1].value
    assert {"LLaMA-65B", "GPT-3 175B", "DeepSeek-V3", "GPT-4 (unofficial)"} <= set(models_table["model"])
    assert {"6ND FLOPs", "quoted FLOPs", "check", "implied MFU", "cost (USD)"} <= set(models_table.columns)
    assert "H100-SXM" in set(gpus_table["accelerator"])
    assert len(at.get("plotly_chart")) == 2


def test_changing_the_accelerator_reprices_every_run():
    h100 = _run()
    a100 = _run(Accelerator="A100-80GB")
    assert not a100.exception
    # Same FLOPs, MFU and GPUs: the cost ratio is the ratio of (price / peak).
    expected = (1.79 / 312) / (2.99 / 989)
    assert _cost_of(a100, "LLaMA-65B") / _cost_of(h100, "LLaMA-65B") == pytest.approx(expected)


def test_mfu_of_zero_shows_an_error_and_keeps_the_page_alive():
    at = _run(MFU=0.0)
    assert not at.exception
    assert "MFU must be" in at.error[0].value
