"""Planning a run end to end: budget -> optimum per law -> cost, memory, shape."""
import json

import pytest

from planner.core import budget, laws
from planner.core.numbers import parse_count
from planner import plan
from planner.views import plan as plan_views
from planner.errors import PlannerError


def request(**budget_fields) -> plan.PlanRequest:
    fields = {"gpus": 512, "days": 30, "accelerator": "H100-SXM", "mfu": 0.4} | budget_fields
    return plan.PlanRequest(budget=budget.BudgetRequest(**fields),
                            laws=["hoffmann2022-approach1", "besiroglu2024", "kaplan2020"])


def test_plan_spends_the_budget_under_every_law():
    result = plan.make_plan(request())
    assert result.budget.gpu_hours == pytest.approx(512 * 30 * 24)
    for p in result.plans:
        assert p.cost.flops == pytest.approx(result.budget.flops, rel=1e-9)
        assert p.cost.usd == pytest.approx(result.budget.usd, rel=1e-9)
        assert p.cost.days == pytest.approx(30, rel=1e-9)
        # the suggested shape is close to the optimum it was asked for
        assert p.shape_params == pytest.approx(p.allocation.params, rel=0.15)
        assert p.min_gpus is not None and p.min_gpus >= 1


@pytest.mark.parametrize("stated", [{"days": 30}, {"usd": 8e5}, {"gpu_hours": 3e5}])
def test_with_a_predicted_mfu_every_law_still_fits_the_budget(stated):
    """With mfu_auto a budget in time or money buys FLOPs at an MFU that depends on each law's model (Kaplan's is
    ten times larger and runs at a lower MFU): each law is sized at the MFU its own run is priced at, so none
    overruns the budget (it once took Kaplan's run 34.7 days out of 30)."""
    fields = {"gpus": 256, "accelerator": "H100-SXM", "mfu": 0.4} | stated
    req = plan.PlanRequest(budget=budget.BudgetRequest(**fields), mfu_auto=True,
                           laws=["besiroglu2024", "hoffmann2022-approach1", "kaplan2020"])
    result = plan.make_plan(req)
    target = plan.budget.resolve_budget(req.budget).gpu_hours  # hours do not depend on the MFU
    assert result.budget.mfu == pytest.approx(result.plans[0].cost.mfu * req.goodput, rel=plan.AUTO_MFU_TOLERANCE)
    for p in result.plans:
        assert p.layout is not None
        assert p.cost.gpu_hours == pytest.approx(target, rel=plan.AUTO_MFU_TOLERANCE)
        assert p.cost.gpu_hours <= target * (1 + plan.AUTO_MFU_TOLERANCE)
    kaplan = result.plans[2]
    assert kaplan.cost.mfu < result.plans[0].cost.mfu  # its far larger model runs slower...
    assert kaplan.allocation.flops < result.plans[0].allocation.flops  # ...so the same hours buy fewer FLOPs
    shown = plan_views.display_table(plan.plan_table(result))  # and the laws table says so
    assert {"FLOPs", "MFU"} <= set(shown.columns) and shown["MFU"].nunique() >= 2
    assert "kaplan2020" in plan_views.isoflop_budget_note(result)  # the shared IsoFLOP curves say whose budget


def test_with_a_predicted_mfu_a_flops_budget_keeps_its_flops():
    req = plan.PlanRequest(budget=budget.BudgetRequest(flops=1e24, gpus=1024, accelerator="H100-SXM"),
                           mfu_auto=True, laws=["besiroglu2024", "kaplan2020"])
    result = plan.make_plan(req)
    assert all(p.allocation.flops == pytest.approx(1e24) for p in result.plans)
    assert result.plans[1].cost.days > result.plans[0].cost.days  # same FLOPs, lower MFU: longer


def test_laws_disagree_as_published():
    """Kaplan's allocation favours far larger models than Chinchilla-style laws at the same budget."""
    by_law = {p.law: p.allocation for p in plan.make_plan(request()).plans}
    assert by_law["kaplan2020"].params > 5 * by_law["besiroglu2024"].params
    assert 15 < by_law["hoffmann2022-approach1"].tokens_per_param < 25


def test_fewer_gpus_means_more_memory_per_gpu():
    small = plan.make_plan(request(gpus=64, days=240)).plans[0]
    large = plan.make_plan(request(gpus=512, days=30)).plans[0]
    assert small.memory.total_gb > large.memory.total_gb


def test_table_and_json_round_trip():
    result = plan.make_plan(request())
    table = plan.plan_table(result)
    assert list(table["law"]) == ["hoffmann2022-approach1", "besiroglu2024", "kaplan2020"]
    assert json.loads(result.model_dump_json())["budget"]["accelerator"] == "H100-SXM"
    assert set(plan_views.display_table(table).columns) >= {"N*", "D*", "cost (USD)"}
    assert "MFU" not in plan_views.display_table(table).columns  # one MFU for every law: said in the budget line
    assert plan_views.isoflop_budget_note(result) is None  # every law on the same budget


def test_isoflop_curves_have_their_minimum_at_the_optimum():
    curves = plan.isoflop_curves("besiroglu2024", plan.budgets_around(1e21, decades=1))
    for flops, curve in curves.groupby("flops"):
        best = curve.loc[curve["loss"].idxmin()]
        assert best["params"] == pytest.approx(curve["optimal_params"].iloc[0], rel=0.15)
        assert (curve["tokens"] * curve["params"] * laws.FLOPS_PER_PARAM_TOKEN).round(-10).nunique() == 1


def test_frontier_grows_with_compute():
    frontier = plan.frontier(["hoffmann2022", "kaplan2020"], 1e18, 1e24, points=10)
    for _, rows in frontier.groupby("law"):
        assert rows["params"].is_monotonic_increasing and rows["tokens"].is_monotonic_increasing


def test_unknown_law_in_request_is_a_planner_error():
    with pytest.raises(PlannerError, match="unknown law"):
        plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(flops=1e22), laws=["nope"]))


def test_plan_cli_json(run_cli):
    out = run_cli("plan", "512 H100 for 30 days", "--law", "besiroglu2024", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["budget"]["gpus"] == 512
    assert data["plans"][0]["allocation"]["params"] > 1e10


def test_plan_cli_rejects_impossible_input(run_cli):
    for args in (["plan", "1e24 FLOPs", "--mfu", "0"], ["plan", "1e24 FLOPs", "--gpu", "Z80"],
                 ["plan", "$-5"], ["plan", "100 FLOPs"]):
        out = run_cli(*args)
        assert out.returncode == 2, args
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_fixed_size_allocations_follow_each_law():
    """A 10B model: Approach 1 (Hoffmann Table 3) wants ~205B tokens; Kaplan far fewer."""
    resolved = budget.resolve_budget(budget.BudgetRequest(gpus=64, days=10))
    table = plan.fixed_allocations(["hoffmann2022-approach1", "kaplan2020"], resolved, params=10e9)
    assert table["D"].iloc[0] in {"205B", "206B", "204B", "203B", "207B"}
    assert table["tokens/param"].iloc[0] > 5 * table["tokens/param"].iloc[1]
    with pytest.raises(PlannerError, match="either"):
        plan.fixed_allocations(["kaplan2020"], resolved)


def test_parse_count_reads_counts_as_people_write_them():
    assert parse_count("7B") == 7e9 and parse_count("1.4T") == 1.4e12
    with pytest.raises(PlannerError, match="not a positive number"):
        parse_count("-5")


def test_budget_beyond_the_shape_search_still_plans_without_a_shape():
    result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(flops=laws.MAX_FLOPS, gpus=256)))
    only = result.plans[0]
    assert only.shape is None and "no suggested shape" in only.shape_note
    assert only.cost.usd > 0
    values = {h.label: h.value for h in plan_views.headline(only)}
    assert values["Memory / GPU"] == "—" and values["Parameters N*"].endswith("T")
    assert "—" in plan_views.shape_summary(only)


def test_memory_warnings_name_every_law_that_does_not_fit():
    result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(gpus=8, days=365),
                                             laws=["besiroglu2024", "kaplan2020"], sharding="none"))
    warnings = plan_views.memory_warnings(result)
    assert any(w.startswith("kaplan2020") for w in warnings)


def test_kaplan_curves_record_their_own_minimum():
    curves = plan.isoflop_curves("kaplan2020", [1e22])
    assert (curves["curve_min_params"] < 0.7 * curves["optimal_params"]).all()


def test_a_law_that_no_gpu_count_fits_is_told_so_and_the_table_says_it_too():
    """Under DDP (no sharding) more GPUs cannot help: the warning said 'use at least more than 4096 GPUs' and the
    laws table showed NaN for the law's fewest GPUs."""
    result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(gpus=1, days=365),
                                             laws=["besiroglu2024"], sharding="none"))
    assert result.plans[0].min_gpus is None
    warning, = plan_views.memory_warnings(result)
    assert "no GPU count up to 4,096 fits it with these settings: shard the state" in warning
    assert "more than 4" not in warning
    assert plan_views.display_table(plan.plan_table(result))["min GPUs"].tolist() == ["> 4,096"]


def test_charts_around_a_small_budget_leave_out_what_no_model_fits():
    """Two decades below 1e15 FLOPs is too small for any model under Kaplan: those curves are left out, the
    budget's own are drawn."""
    curves = plan.isoflop_panels(["besiroglu2024", "kaplan2020"], 1e15)
    kaplan = curves[curves["law"] == "kaplan2020"]
    assert 1e15 in set(kaplan["flops"]) and kaplan["flops"].min() > 1e13
    frontier = plan.frontier(["kaplan2020"], *plan.frontier_range(1e15))
    assert len(frontier) and frontier["params"].min() >= laws.MIN_PARAMS
    assert plan.frontier_range(1e29)[1] == laws.MAX_FLOPS  # never past the largest budget a law is asked for
