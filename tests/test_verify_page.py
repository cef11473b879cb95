"""The Verify page (AppTest): design, launch, and the results of a finished ladder."""
import os
import signal
import time

from streamlit.testing.v1 import AppTest

from planner.jobs.store import JobStore
from planner.laws import DEFAULT_LAW, get_law
from planner.train import ladder
from tests.conftest import REPO


def page() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "verify.py"), default_timeout=60)


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


def test_a_finished_ladder_shows_exponents_and_the_holdout_check():
    """Runs finished with losses from Hoffmann's law: the page must show the fit and the held-out check."""
    law = get_law(DEFAULT_LAW)
    design = ladder.design_ladder(ladder.LadderRequest(preset="gpu", device="cuda", sizes_per_budget=7,
                                                       size_spread=8))
    ladder_id = ladder.launch_ladder(design)
    store = JobStore()
    for job, run in zip(store.list_jobs(group=ladder_id), design.runs):
        store.finish(job.id, "done", result={"final_loss": float(law.loss(run.params, run.tokens)),
                                             "tokens": run.tokens, "flops": run.flops, "tokens_per_s": 1e6})
    at = page().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert abs(float(metrics["Fitted a (N_opt ∝ C^a, approach2)"]) - law.a) < 0.08
    assert "Held-out prediction error" in metrics
    table = at.dataframe[1].value  # [0] is the design table
    assert list(table["status"]) == ["done"] * len(design.runs)


def test_figures_are_built_from_the_report_alone():
    from planner.plots import verify as plots

    law = get_law(DEFAULT_LAW)
    design = ladder.design_ladder(ladder.LadderRequest(preset="gpu", device="cuda"))
    ladder_id = ladder.launch_ladder(design)
    store = JobStore()
    for job, run in zip(store.list_jobs(group=ladder_id), design.runs):
        store.log(job.id, 1, 10, {"loss": 5.0, "tokens": run.tokens // 2, "eval_loss": 5.1})
        store.finish(job.id, "done", result={"final_loss": float(law.loss(run.params, run.tokens)),
                                             "tokens": run.tokens, "flops": run.flops})
    report = ladder.analyze_ladder(ladder_id)
    iso = plots.isoflop_figure(report)
    accepted = [b for b in report.fit.approach2["budgets"] if b["accepted"]]
    assert sum(t.marker.symbol == "x" for t in iso.data) == len(accepted) == 3  # one optimum per budget
    curves, budgets = ladder.ladder_curves(ladder_id)
    assert len(plots.loss_curves_figure(curves, budgets).data) == 2 * len(design.runs)
    bars = plots.exponents_figure(report.fit).data[0]
    assert len(bars.x) == 2 + len(report.fit.published)
    assert list(plots.holdout_figure(report.holdout).data[0].x)[-1] == "measured"
    assert len(plots.design_table(design)) == len(design.runs)
