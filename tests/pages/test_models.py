"""The Models & GPUs page runs headless (AppTest): tables, flags, charts, and errors shown in the page."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from planner.core import format as fmt
from planner.errors import PlannerError
from planner.core.hardware import accelerators
from planner.catalog import get_model, model_row
from tests.conftest import REPO

PAGE = str(REPO / "pages" / "models.py")


def _run(**inputs) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    for label, value in inputs.items():
        widget = next(w for w in [*at.selectbox, *at.number_input] if w.label == label)
        widget.set_value(value)
    return at.run() if inputs else at


def _row(at: AppTest, model: str):
    table = at.dataframe[0].value
    return table.loc[table["model"] == model].iloc[0]


def test_page_shows_model_and_accelerator_tables_and_charts():
    at = _run()
    assert not at.exception and not at.error
    models_table, gpus_table = at.dataframe[0].value, at.dataframe[1].value
    assert {"LLaMA-65B", "GPT-3 175B", "DeepSeek-V3", "GPT-4 (unofficial)"} <= set(models_table["model"])
    assert {"6ND FLOPs", "quoted FLOPs", "check", "implied MFU", "cost"} <= set(models_table.columns)
    assert "H100-SXM" in set(gpus_table["accelerator"])
    assert len(at.get("plotly_chart")) == 2


def test_counts_days_and_dollars_are_written_as_everywhere_else():
    at = _run()
    llama, bert = _row(at, "LLaMA-65B"), _row(at, "BERT-base")
    assert llama["params"] == "65.2B" and llama["tokens"] == "1.4T" and llama["reported GPU-hours"] == "1.02M"
    assert bert["params"] == "110M"  # planner.core.format: lower-case k, three digits (was "1.3K" / "221K")
    cost = model_row(get_model("BERT-base"), "H100-SXM", 0.4, 1024).cost
    assert bert["wall-clock"] == fmt.days(cost.days) and "minutes" in bert["wall-clock"]  # not "0.00241"
    assert bert["cost"] == fmt.usd(cost.usd) and bert["GPU-hours"] == fmt.count(cost.gpu_hours)


def test_changing_the_accelerator_reprices_every_run():
    at = _run(Accelerator="A100-80GB")
    assert not at.exception
    for name in ("LLaMA-65B", "GPT-3 175B"):
        cost = model_row(get_model(name), "A100-80GB", 0.4, 1024).cost
        assert _row(at, name)["cost"] == fmt.usd(cost.usd) != _row(_run(), name)["cost"]


def test_accelerator_table_has_one_row_per_accelerator_and_marks_the_v100_peak_fp16():
    gpus_table = _run().dataframe[1].value.set_index("accelerator")
    assert len(gpus_table) == len(accelerators())
    assert gpus_table.loc["V100", "16-bit TFLOP/s (dense)"] == 125
    assert gpus_table.loc["V100", "16-bit type"] == "FP16 (no BF16)"
    assert gpus_table.loc["H100-SXM", "16-bit type"] == "BF16"


def test_mfu_input_accepts_only_fractions_in_0_1():
    at = _run(MFU=0.0)  # refused by the widget, as the Plan page's slider would: the page stays as it was
    assert not at.exception and not at.error
    assert next(w for w in at.number_input if w.label == "MFU").value == 0.4
    assert len(at.dataframe) == 3 and len(at.get("plotly_chart")) == 2


def test_an_mfu_error_keeps_everything_that_does_not_depend_on_it(monkeypatch):
    """If pricing fails, the message sits by the MFU input and the catalog, charts and accelerators stay."""
    from planner import catalog as models

    table = models.model_table

    def reject_mfu(accelerator, mfu, gpus):
        if mfu is not None:
            raise PlannerError("MFU must be a fraction in (0, 1]")
        return table(accelerator, mfu, gpus)

    monkeypatch.setattr(models, "model_table", reject_mfu)
    at = _run()
    assert not at.exception
    assert [e.value for e in at.error] == ["MFU must be a fraction in (0, 1]"]
    assert len(at.dataframe) == 3 and len(at.get("plotly_chart")) == 2
    assert _row(at, "LLaMA-65B")["6ND FLOPs"] == "5.48e23" and _row(at, "LLaMA-65B")["cost"] is None
    assert any("not computed until the MFU is valid" in m.value for m in at.markdown)
