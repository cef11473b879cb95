"""Tables and figures of the Adapt page, built without a browser."""
import pytest

from planner.adapt.estimate import AdaptRequest, compare
from planner.adapt.methods import method_names
from planner.views import adapt as plots


@pytest.fixture(scope="module")
def comparison():
    return compare("llama-2-7b", AdaptRequest())


def test_cost_table_counts_as_planner_format_writes_them_and_short_headers(comparison):
    table = plots.cost_table(comparison).set_index("method")
    assert table.loc["LoRA", "trainable params"] == "4.19M"      # 32 layers x 8 x (4096 + 4096) x 2
    assert table.loc["Zero-shot / in-context", "trainable params"] == "0"
    assert table.loc["Full fine-tuning", "cost"].startswith("$")
    # the last column used to be "cheapest that fits", cut off in the grid
    assert all(len(c) <= 20 for c in table.columns)
    assert (table["cheapest"] == "★").sum() == 1


def test_trainable_figure_keeps_zero_shot_with_a_note(comparison):
    fig = plots.trainable_figure(comparison)
    bars = fig.data[0]
    assert len(bars.x) == len(method_names()) and bars.x[-1] == "Zero-shot / in-context"
    assert bars.y[-1] is None and all(y > 0 for y in bars.y[:-1])  # no zero on the log axis
    notes = [a for a in fig.layout.annotations if a.x == "Zero-shot / in-context"]
    assert len(notes) == 1 and "0 trainable" in notes[0].text


def test_measured_bars_note_the_method_that_trains_nothing():
    from planner.adapt.measure import AdaptRunResult, AdaptRunSpec, MethodRun

    runs = [MethodRun(method=m, status="done", peak_memory_gb=0.1, trainable_params=n)
            for m, n in (("full", 1000), ("lora", 10), ("zero-shot", 0))]
    fig = plots.measured_bars_figure(AdaptRunResult(spec=AdaptRunSpec(), base="test", runs=runs))
    trainable = fig.data[1]
    assert list(trainable.x) == ["Full fine-tuning", "LoRA", "Zero-shot / in-context"]
    assert list(trainable.y) == [1000, 10, None]
    notes = [a for a in fig.layout.annotations if "0 trainable" in (a.text or "")]
    assert len(notes) == 1 and notes[0].xref == "x2"


def test_invalid_methods_are_one_line_per_message():
    lines = plots.invalid_methods(compare("llama-2-7b", AdaptRequest(rank=0, virtual_tokens=0)))
    assert len(lines) == 2  # prompt and prefix tuning share their knob, so they share the line
    assert lines[0].startswith("LoRA, QLoRA (4-bit base): LoRA rank must be at least 1")
    assert lines[1] == "Prompt tuning, Prefix tuning: the number of virtual tokens must be at least 1 (got 0)"


def test_memory_chart_draws_the_fit_checks_threshold(comparison):
    """The dashed line is where `fits` flips: an 80 GiB card, less allocator and context overhead, in 1e9 bytes."""
    from planner.adapt.estimate import fits, usable_gb
    from planner.core.hardware import get_accelerator

    fig = plots.memory_breakdown_figure(comparison)
    line = fig.layout.shapes[0]
    h100 = get_accelerator("H100-SXM")
    assert line.y0 == pytest.approx(usable_gb(h100)) and 79 < line.y0 < 80
    assert fits(line.y0 - 0.01, h100) and not fits(line.y0 + 0.01, h100)
    assert "80 GiB card" in fig.layout.annotations[0].text


def test_comparison_label_names_the_base_the_run_used():
    """A comparison on a verification run's weights is labelled with that run, not the preset it ignored."""
    from planner.jobs.store import Job

    def job(**spec):
        return Job(id=7, kind="adapt", spec={"preset": "tiny", **spec}, device="cpu", status="done", created_at=0)

    assert plots.comparison_label(job()) == "job 7 — tiny on cpu — done"
    assert plots.comparison_label(job(base_job=12)) == "job 7 — verification job 12 on cpu — done"
