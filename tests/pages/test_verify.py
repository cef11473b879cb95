"""The Verify page (AppTest): design, launch, and the results of a finished ladder."""
import os
import signal
import time

import pytest
from streamlit.testing.v1 import AppTest

from planner.core.hardware import accelerators

from planner.jobs.store import JobStore
from planner.core.laws import DEFAULT_LAW, get_law
from planner.core.architecture import param_counts
from planner.verify import ladder
from planner.verify.job import RunResult
from tests.conftest import REPO


def fake_result(run, loss: float, **extra) -> dict:
    """A finished ladder run's stored result, as the job kind writes it, with a chosen final loss."""
    return RunResult(steps=run.steps, tokens=run.tokens, final_loss=loss, final_train_loss=loss, tokens_per_s=1e6,
                     flops=run.flops, seconds=1.0, device="cuda", compiled=True, params=run.params,
                     total_params=param_counts(run.model).total, model=run.model.name,
                     flops_per_token=run.flops / run.tokens, corpus_manifest_sha256="test", **extra).model_dump()


def page() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "verify.py"), default_timeout=60)


@pytest.fixture
def gpu(monkeypatch):
    """Pretend this machine has one GPU (local_gpu_count reads CUDA_VISIBLE_DEVICES first)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


def test_design_shows_runs_time_and_no_cost_on_cpu():
    at = page().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    tiny = ladder.design_ladder(ladder.LadderRequest(preset="tiny"))
    assert metrics["Runs"] == str(len(tiny.runs)) and metrics["Estimated cost"] == "— (CPU)"
    assert "No ladder yet" in at.info[0].value
    at.selectbox[0].select("micro").run()
    micro = ladder.design_ladder(ladder.LadderRequest(preset="micro"))
    assert {m.label: m.value for m in at.metric}["Runs"] == str(len(micro.runs))


def test_gpu_design_has_a_cost_and_scales_to_a_time_budget():
    at = page().run()
    at.selectbox[0].select("gpu").run()
    at.radio[0].set_value("cuda").run()
    at.number_input[0].set_value(0.5).run()
    metrics = {m.label: m.value for m in at.metric}
    assert not at.exception and metrics["Estimated cost"].startswith("$")
    assert metrics["Estimated time"] == "30.0 min" or 27 <= float(metrics["Estimated time"].split()[0]) <= 33


def test_accelerator_is_a_choice_that_sets_cost_and_assumed_speed():
    """QA: the accelerator was free text (`xyz`, `TPU` accepted) and cuda's cost read "$0.00"."""
    at = page().run()
    at.selectbox[0].select("gpu").run()
    at.radio[0].set_value("cuda").run()
    choice = next(s for s in at.selectbox if s.label == "Accelerator (for cost)")
    assert choice.options == list(accelerators()) and choice.value == "H100-SXM"
    h100 = {m.label: m.value for m in at.metric}
    assert any("40% MFU on H100-SXM" in c.value for c in at.caption)
    choice.select("A100-80GB").run()
    a100 = {m.label: m.value for m in at.metric}
    assert not at.exception and a100["Estimated time"] != h100["Estimated time"]
    assert a100["Estimated cost"] != h100["Estimated cost"] and any("A100-80GB" in c.value for c in at.caption)
    at.selectbox[0].select("tiny").run()  # a few seconds of an H100: no "$0.00" nor "0.0 min"
    tiny = {m.label: m.value for m in at.metric}
    assert tiny["Estimated cost"] == "< $0.01" and tiny["Estimated time"] == "< 1 s"


@pytest.mark.parametrize("hours, message", [(1e-4, "give at least"), (1e6, "at most 1000 hours")])
def test_time_budgets_out_of_range_are_refused(hours, message):
    at = page().run()
    at.number_input[0].set_value(hours).run()
    assert not at.exception and message in at.error[0].value
    assert not at.button  # no design, nothing to launch


def test_a_cuda_launch_without_a_gpu_is_refused_and_queues_nothing(no_gpu):
    at = page().run()
    at.radio[0].set_value("cuda").run()
    assert "no CUDA GPU" in at.warning[0].value  # said before Launch is pressed
    at.button[0].click().run()
    assert not at.exception and at.error[0].value.startswith("Not launched: no CUDA GPU")
    assert JobStore().list_jobs() == [] and ladder.list_ladders() == []


def test_launch_queues_the_ladder_and_starts_one_worker():
    at = page().run()
    at.selectbox[0].select("micro").run()
    at.button[0].click().run()
    store = JobStore()
    try:
        assert not at.exception and at.success and "Launched ladder-" in at.success[0].value
        jobs = store.list_jobs()
        assert len(jobs) == len(ladder.design_ladder(ladder.LadderRequest(preset="micro")).runs)
        pid = int(at.success[0].value.rsplit("pid ", 1)[1])  # the page started one detached worker
        deadline = time.time() + 60
        while not store.live_workers() and time.time() < deadline:
            time.sleep(0.2)
        assert [w.pid for w in store.live_workers()] == [pid]
        assert at.selectbox(key="watch").value == jobs[0].group
        assert any(m.label == "ETA" for m in at.metric)
    finally:
        for job in store.list_jobs():
            store.cancel(job.id)
        for worker in store.live_workers():
            os.kill(worker.pid, signal.SIGTERM)


def test_a_finished_ladder_shows_exponents_and_the_holdout_check(gpu):
    """Runs finished with losses from Hoffmann's law: the page must show the fit and the held-out check."""
    law = get_law(DEFAULT_LAW)
    design = ladder.design_ladder(ladder.LadderRequest(preset="gpu", device="cuda", sizes_per_budget=7,
                                                       size_spread=8))
    ladder_id = ladder.launch_ladder(design)
    store = JobStore()
    for job, run in zip(store.list_jobs(group=ladder_id), design.runs):
        store.finish(job.id, "done", result=fake_result(run, float(law.loss(run.params, run.tokens))))
    at = page().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert abs(float(metrics["Fitted a (N_opt ∝ C^a, Approach 2)"]) - law.a) < 0.08
    label = next(k for k in metrics if k.startswith("Held-out prediction error"))
    assert label in ("Held-out prediction error (Approach 2)", "Held-out prediction error (Approach 3)")
    table = at.dataframe[1].value  # [0] is the design table
    assert list(table["status"]) == ["done"] * len(design.runs)
    assert set(table["MFU"]) == {"—"} and "None" not in table.astype(str).to_string()  # not logged: blank
    assert {m.label: m.value for m in at.metric}["ETA"] == "—"


def test_figures_are_built_from_the_report_alone(gpu):
    from planner.views import verify as plots

    law = get_law(DEFAULT_LAW)
    design = ladder.design_ladder(ladder.LadderRequest(preset="gpu", device="cuda"))
    ladder_id = ladder.launch_ladder(design)
    store = JobStore()
    for job, run in zip(store.list_jobs(group=ladder_id), design.runs):
        store.log(job.id, 1, 10, {"loss": 5.0, "tokens": run.tokens // 2, "eval_loss": 5.1})
        store.finish(job.id, "done", result=fake_result(run, float(law.loss(run.params, run.tokens))))
    report = ladder.analyze_ladder(ladder_id)
    iso = plots.isoflop_figure(report)
    accepted = [b for b in report.fit.approach2.budgets if b.accepted]
    assert sum(t.marker.symbol == "x" for t in iso.data) == len(accepted) == 3  # one optimum per budget
    curves, budgets = ladder.ladder_curves(ladder_id)
    assert len(plots.loss_curves_figure(curves, budgets).data) == 2 * len(design.runs)
    bars = plots.exponents_figure(report.fit).data[0]
    assert len(bars.x) == 2 + len(report.fit.published)
    holdout = plots.holdout_figure(report.holdout)
    assert list(holdout.data[0].x)[-1] == "measured"
    assert holdout.layout.yaxis.range[0] == 0  # the bars compare honestly; the error is written on them
    assert all("%" in t for t in holdout.data[0].text[:-1])
    assert len(plots.design_table(design)) == len(design.runs)


def test_wsd_is_a_design_choice_with_its_own_runs_and_estimate():
    at = page().run()
    choice = next(r for r in at.radio if r.label == "Design")
    assert choice.options == ["IsoFLOP (every run from scratch)", "WSD (one run per size + cooldown branches)"]
    choice.set_value("wsd").run()
    assert not at.exception
    wsd = ladder.design_ladder(ladder.LadderRequest(preset="tiny", design="wsd"))
    iso = ladder.design_ladder(ladder.LadderRequest(preset="tiny"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == str(len(wsd.runs)) and wsd.est_seconds < iso.est_seconds
    table = at.dataframe[0].value
    assert set(table["role"]) == {"stable", "cooldown", "holdout"}
    assert set(table.loc[table["role"] == "cooldown", "starts from"]) == {r.name for r in wsd.runs if r.role == "stable"}


def test_a_finished_wsd_ladder_shows_its_approach3_fit_and_holdout(gpu):
    from planner.views import verify as plots

    law = get_law(DEFAULT_LAW)
    design = ladder.design_ladder(ladder.LadderRequest(preset="gpu", device="cuda", design="wsd"))
    ladder_id = ladder.launch_ladder(design)
    store = JobStore()
    for job, run in zip(store.list_jobs(group=ladder_id), design.runs):
        store.finish(job.id, "done", result=fake_result(run, float(law.loss(run.params, run.tokens)),
                                                        first_step=run.start_step))
    report = ladder.analyze_ladder(ladder_id)
    assert report.design == "wsd" and report.fit.method == "approach3" and report.fit.approach2 is None
    assert report.fit.approach3.alpha == pytest.approx(law.alpha, rel=0.1)
    assert abs(report.holdout.error_pct["approach3"]) < 1.0  # the law the losses came from predicts the held-out run
    figure = plots.fit_figure(report)
    assert "Cooldown losses per size" in figure.layout.title.text
    assert sum(t.mode == "lines" for t in figure.data) == len({r.parent for r in report.runs if r.parent})
    at = page().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert abs(float(metrics["Fitted a (N_opt ∝ C^a, Approach 3)"]) - law.a) < 0.08
    assert metrics["Held-out prediction error (Approach 3)"].endswith("%")


def test_metric_rows_without_a_curve_are_left_out_of_the_loss_chart():
    """A job that logged loss without tokens (another kind of job) raised KeyError on the Runs page."""
    from planner.views import verify as plots

    fig = plots.loss_curves_figure({"a": [{"loss": 1.0}, {"tokens": 10, "loss": 2.0}]}, {"a": 1e15})
    assert [list(t.x) for t in fig.data if t.mode == "lines"] == [[10]]
    assert plots._num(float("nan"), ".4f") == plots._num(None, ".4f")  # a diverged run: blank, not 'nan'
