"""The Plan page's parallel-layout section through AppTest: layout, predicted MFU, time chart, editable inputs."""

from streamlit.testing.v1 import AppTest
from tests.pages.apptest import metric, run_page as run_pages_page


def run_page() -> AppTest:
    return run_pages_page("plan")


def test_the_layout_section_shows_layout_mfu_and_where_time_goes():
    at = run_page()
    assert any(h.value == "Parallel layout and throughput" for h in at.subheader)
    tp, pp, dp = (int(metric(at, k)) for k in ("Tensor parallel", "Pipeline parallel", "Data parallel"))
    assert tp * pp * dp == 256  # the page's default GPU count
    assert 0.2 < float(metric(at, "Predicted MFU").rstrip("%")) / 100 < 0.75
    constants = next(t.value for t in at.table if "constant" in t.value.columns)
    assert constants["source"].str.len().min() > 0  # every constant carries a source


def test_predicted_mfu_drives_the_cost_when_asked():
    at = run_page()
    before = metric(at, "Parameters N*")
    mfu_slider = next(s for s in at.slider if s.label == "MFU")
    assert not mfu_slider.disabled
    at.checkbox(key="sys_mfu_auto").check().run()
    assert not at.exception
    assert next(s for s in at.slider if s.label == "MFU").disabled  # the slider no longer counts: greyed out
    # The budget fixes the cost; the predicted MFU changes the FLOPs it buys, hence the compute-optimal N.
    assert metric(at, "Parameters N*") != before
    assert "40% MFU" not in at.info[0].value
    assert "MFU × 90% goodput (the first law's run)" in at.info[0].value  # the MFU split as the table shows it


def test_editing_the_network_changes_the_prediction():
    at = run_page()
    before = metric(at, "Predicted MFU")
    at.number_input(key="sys_inter").set_value(0.05).run()
    at.number_input(key="sys_matmul").set_value(0.4).run()
    assert not at.exception
    assert metric(at, "Predicted MFU") != before


def test_a_model_that_fits_no_layout_is_a_warning_not_a_crash():
    at = run_page()
    at.radio[0].set_value("FLOPs").run()
    at.text_input[0].set_value("1e26").run()
    at.number_input[0].set_value(1).run()  # one GPU for a 1e26-FLOP model
    assert not at.exception
    assert any("No parallel layout" in w.value for w in at.warning)
    assert metric(at, "Parameters N*")  # the rest of the plan still renders
    at.checkbox(key="sys_mfu_auto").check().run()  # no layout, so no predicted MFU: the slider's MFU stands
    assert not at.exception
    assert "at 40% MFU" in at.info[0].value and "goodput" not in at.info[0].value
