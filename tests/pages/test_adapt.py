"""The Adapt page in Streamlit's AppTest: estimates render, knobs change them, bad input shows a message,
and a finished measured comparison (a real tiny run) renders its plots."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from tests.conftest import REPO

PAGE = str(REPO / "pages" / "adapt.py")


def _app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def _widget(widgets, label):
    return next(w for w in widgets if w.label == label)


def test_default_estimate_names_the_cheapest_method_that_fits():
    at = _app()
    assert not at.exception
    assert "cheapest method that fits" in at.success[0].value
    table = at.dataframe[0].value
    assert list(table["method"])[:3] == ["Full fine-tuning", "LoRA", "QLoRA (4-bit base)"]
    # Llama-2-70B full fine-tuning cannot fit one H100: the page says so and what to do
    assert any("more than one H100-SXM" in c.value and "Full fine-tuning" in c.value for c in at.caption)


def test_changing_rank_changes_lora_params():
    from planner.core import format as fmt
    from planner.adapt.estimate import AdaptRequest, trainable_params

    at = _app()
    assert at.dataframe[0].value.set_index("method").loc["LoRA", "trainable params"] == "16.4M"
    _widget(at.number_input, "LoRA rank").set_value(16).run()
    shown = at.dataframe[0].value.set_index("method").loc["LoRA", "trainable params"]
    assert shown == fmt.count(trainable_params("llama-2-70b", AdaptRequest(rank=16))) == "32.8M"


def test_rank_zero_is_an_error_for_lora_and_qlora_only():
    at = _app()
    _widget(at.number_input, "LoRA rank").set_value(0).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("LoRA, QLoRA (4-bit base): LoRA rank must be at least 1")
    # the methods that use no rank keep their estimates, charts and advice
    methods = list(at.dataframe[0].value["method"])
    assert "LoRA" not in methods and methods[0] == "Full fine-tuning" and "IA3" in methods
    assert len(methods) == 7 and len(at.get("plotly_chart")) == 2
    assert "no trained method fits" in at.warning[0].value  # without QLoRA nothing trains on one H100
    _widget(at.number_input, "LoRA rank").set_value(8).run()
    assert not at.error and at.success and "LoRA" in list(at.dataframe[0].value["method"])


def test_when_nothing_fits_the_rows_say_no_and_the_advice_stays():
    at = _app()
    for label, value in (("LoRA rank", 64), ("Micro-batch", 100000), ("Sequence length", 1000000)):
        _widget(at.number_input, label).set_value(value)
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 9 and set(table["fits one GPU"]) == {"no"} and set(table["cheapest"]) == {""}
    assert "no trained method fits on one H100-SXM" in at.warning[0].value
    assert any("more than one H100-SXM" in c.value for c in at.caption)


def test_small_model_fits_everything():
    at = _app()
    _widget(at.selectbox, "Base model").set_value("llama-3.2-1b").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["fits one GPU"]) == {"yes"}


@pytest.mark.slow
def test_finished_comparison_renders_plots(tmp_path):
    from planner.adapt.measure import AdaptRunSpec, run_adaptation
    from planner.adapt.estimate import AdaptRequest
    from planner.jobs import JobStore

    spec = AdaptRunSpec(methods=["full", "lora", "qlora", "zero-shot"], steps=3, base_steps=0, evals=1,
                        corpus_bytes=60_000, base_corpus_bytes=200_000,
                        knobs=AdaptRequest(micro_batch=2, seq_len=32, precision="fp32"))
    store = JobStore()
    job_id = store.submit("adapt", spec.model_dump(), group="adapt", device="cpu")
    store.finish(job_id, "done", result=run_adaptation(spec).model_dump(mode="json"))
    at = _app()
    assert not at.exception
    assert any("QLoRA (4-bit base): skipped: needs CUDA + bitsandbytes" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) >= 5
    errors = at.dataframe[1].value
    assert list(errors["trainable (est.)"]) == list(errors["trainable (measured)"])
