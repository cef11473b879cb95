"""The figure and table builders of planner/views, tested directly on real planner results (no browser):
each chart draws what its page promises (one curve per budget or run, optima marked where the result says)."""
import numpy as np
import pytest

from planner import plan
from planner.core import budget, format as fmt, laws
from planner.core.settings import DATA_TABLES
from planner.fitting import FitOptions, fit_runs
from planner.fitting import uploads
from planner.recipe import inference, overtrain
from planner.systems.layout import search_layouts
from planner.views import fit as fit_views, plan as plan_views, recipe as recipe_views, style
from planner.views import systems as systems_views

FLOPS = 5.76e23


def test_style_cycles_and_lays_out():
    assert style.colour(0) == style.colour(len(style.PALETTE))
    import plotly.graph_objects as go
    fig = style.layout(go.Figure(), "t", "x", "y", log_x=True)
    assert fig.layout.title.text == "t" and fig.layout.xaxis.type == "log" and fig.layout.yaxis.title.text == "y"


def test_isoflop_figure_marks_each_curves_minimum():
    budgets = plan.budgets_around(FLOPS)
    curves = plan.isoflop_curves(laws.DEFAULT_LAW, budgets)
    fig = plan_views.isoflop_figure(curves, FLOPS)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == len(budgets)
    for line in lines:  # each budget's optimum marker sits at that curve's lowest loss
        x_min = line.x[int(np.argmin(line.y))]
        markers = [t for t in fig.data if t.mode == "markers" and any(abs(x / x_min - 1) < 0.2 for x in t.x)]
        assert markers


def test_isoflop_figure_draws_one_panel_per_law_in_one_chart():
    """Several laws share one figure (one chart for the browser to draw), a panel each, the budgets' legend once;
    Kaplan's allocation is not its own curve's minimum, so its panel marks both and the title says why."""
    names = [laws.DEFAULT_LAW, "kaplan2020"]
    curves = plan.isoflop_panels(names, FLOPS)
    fig = plan_views.isoflop_figure(curves, FLOPS)
    assert [a.text for a in fig.layout.annotations] == names
    budgets = plan.budgets_around(FLOPS)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == len(names) * len(budgets)
    assert sum(t.showlegend is not False for t in lines) == len(budgets)
    assert {t.xaxis for t in lines} == {"x", "x2"}
    assert "kaplan2020's allocation" in fig.layout.title.text
    assert laws.DEFAULT_LAW + "'s" not in fig.layout.title.text


def test_frontier_figure_has_a_line_per_law():
    low, high = plan.frontier_range(FLOPS)
    names = [laws.DEFAULT_LAW, "kaplan2020"]
    fig = plan_views.frontier_figure(plan.frontier(names, low, high), FLOPS)
    legend = " ".join(t.name or "" for t in fig.data)
    assert all(name in legend for name in names)


def test_memory_figure_stacks_every_laws_memory():
    result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(gpus=512, days=30, accelerator="H100-SXM"),
                                             laws=[laws.DEFAULT_LAW, "kaplan2020"]))
    table = plan.plan_table(result)
    fig = plan_views.memory_figure(table)
    assert fig.data and all(len(t.x) == len(table) for t in fig.data if t.type == "bar")


def test_inference_figure_marks_both_optima():
    demand = inference.InferenceDemand(tokens=1e13)
    served = inference.inference_aware(laws.DEFAULT_LAW, FLOPS, demand)
    fig = recipe_views.inference_figure(inference.cost_curve(laws.DEFAULT_LAW, FLOPS, demand), served)
    xs = [x for t in fig.data if t.mode == "markers" for x in t.x]
    assert any(abs(x / served.params - 1) < 1e-6 for x in xs)
    assert any(abs(x / served.chinchilla.params - 1) < 1e-6 for x in xs)
    assert len(recipe_views.inference_frame(served)) >= 2


def test_overtrain_frame_and_figure_cover_every_ratio():
    table = overtrain.overtrain_table(laws.DEFAULT_LAW, FLOPS)
    frame = recipe_views.overtrain_frame(table)
    assert len(frame) == len(table.rows)
    fig = recipe_views.overtrain_figure(table)
    assert max(len(t.x) for t in fig.data) == len(table.rows)


def test_time_figure_adds_up_to_the_step():
    layout = search_layouts("llama-2-7b", gpus=8, gpu="H100-SXM", seq_len=4096)
    fig = systems_views.time_figure(layout, others=2)
    b = layout.breakdown
    parts = b.compute_s + b.memory_s + b.communication_s + b.bubble_s + b.overhead_s
    assert parts == pytest.approx(layout.step_seconds, rel=1e-6)
    assert len(systems_views.alternatives_table(layout)) == len(layout.alternatives)
    labels = dict(systems_views.layout_metrics(layout))
    assert any("MFU" in k for k in labels)


@pytest.fixture(scope="module")
def sample_fit():
    table = uploads.load_runs([DATA_TABLES / "sample_runs.csv"])
    return table.frame(), fit_runs(table, FitOptions(method="approach3", target_flops=1e21))


def test_fit_views_draw_every_run_and_say_the_verdict(sample_fit):
    runs, result = sample_fit
    fig = fit_views.loss_vs_compute(runs, result)
    names = {t.name for t in fig.data}
    assert all(any(str(run) in (n or "") for n in names) for run in runs["run"].unique())
    assert result.verdict in fit_views.verdict_line(result).lower()
    comparison = fit_views.comparison_table(result)
    assert len(comparison) >= 2  # every applicable approach, side by side
    residuals = fit_views.residuals_figure(result)
    assert sum(len(t.y) for t in residuals.data if t.y is not None) >= len(result.diagnostics.residuals)


def test_page_lines_composed_in_views():
    assert fit_views.preview_label("runs.csv", 1) == "Preview of runs.csv (1 row)"
    assert fit_views.preview_label("runs.csv", 1200) == "Preview of runs.csv (1,200 rows)"
    result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(gpus=512, days=30, accelerator="H100-SXM"),
                                             laws=[laws.DEFAULT_LAW]))
    first, b = result.plans[0], result.budget
    line = systems_views.layout_headline(first, b, mfu_auto=False)
    assert line.startswith(f"**{first.law}**: TP{first.layout.tp}") and "cost uses the slider" in line
    auto = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(gpus=512, days=30, accelerator="H100-SXM"),
                                           laws=[laws.DEFAULT_LAW], mfu_auto=True))
    line = systems_views.layout_headline(auto.plans[0], auto.budget, mfu_auto=True)
    assert f"cost planned at {auto.plans[0].cost.mfu:.1%} MFU" in line and f"{auto.plans[0].layout.mfu:.1%}" in line
    hours = next(h for h in plan_views.headline(auto.plans[0]) if h.label == "GPU-hours")
    low, high = auto.plans[0].cost.gpu_hours_range
    assert hours.help.startswith(f"Likely {fmt.count(low)}–{fmt.count(high)} GPU-hours")
    assert "checked on 14 published runs" in hours.help  # how far the range has held
    assert next(h for h in plan_views.headline(first) if h.label == "GPU-hours").help is None  # slider MFU
    assert first.law in systems_views.no_layout_message(first.model_copy(update={"layout_note": "too big"}), b)
