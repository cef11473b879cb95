"""The systems model: layout search on known cases, its terms against hand computations, every published point."""
from statistics import median, quantiles

import pytest

from planner import plan
from planner.core import budget
from planner.core.architecture import get_preset
from planner.core.hardware import get_accelerator
from planner.core.memory import training_memory
from planner.errors import PlannerError
from planner.systems import throughput as tp_model
from planner.systems.layout import (candidate_layouts, evaluate, layout_memory_gb, layout_memory_model,
                                   layout_summary, search_layouts)
from planner.systems.published import (REALIZED_RANGE, REALIZED_SHARE, check_all, check_memory, expected_mfu,
                                       hours_range, published_memory, published_runs, realized_shares, summarise)
from planner.systems.throughput import Layout, step_time

H100 = get_accelerator("H100-SXM")


def test_7b_on_8_gpus_fits_without_tensor_parallelism():
    plan = search_layouts("llama-2-7b", 8, "H100", 4096)
    assert plan.fits and plan.tp == 1 and plan.pp == 1 and plan.dp == 8
    assert 0.3 < plan.mfu < 0.7
    assert plan.tokens_per_s_per_gpu == pytest.approx(
        plan.global_batch_tokens / plan.step_seconds / 8)


def test_70b_on_64_gpus_needs_sharding():
    plan = search_layouts("llama-2-70b", 64, "H100", 4096)
    assert plan.tp * plan.pp > 1 or plan.zero_stage == 3
    # Plain data parallelism keeps 16 bytes/param of a 69B model on every GPU: 1.1 TB, far over 80 GiB.
    plain = evaluate(get_preset("llama-2-70b"), "H100", 4096, 1024, Layout(tp=1, pp=1, dp=64, zero_stage=0))
    assert not plain.fits and plain.memory_gb > 1000
    assert any(a.why_not.startswith("does not fit") for a in plan.alternatives)


def test_a_mixture_of_experts_spreads_its_experts():
    plan = search_layouts("mixtral-8x7b", 32, "H100", 4096)
    assert plan.fits and plan.ep > 1 and plan.dp % plan.ep == 0


def test_alternatives_are_ranked_and_say_why_they_lost():
    plan = search_layouts("llama-2-13b", 32, "A100-80GB", 4096)
    fitting = [a for a in plan.alternatives if a.fits]
    speeds = [a.tokens_per_s_per_gpu for a in fitting]
    assert speeds == sorted(speeds, reverse=True) and all(s <= plan.tokens_per_s_per_gpu for s in speeds)
    reasons = {a.why_not.split(" (")[0].split(":")[0] for a in plan.alternatives}
    assert reasons <= {"does not fit", "pipeline bubble", "communication bound", "memory-bound ops",
                       "recomputation / narrower matmuls", "as fast"}


def test_pipeline_bubble_is_p_minus_1_micro_batch_slots():
    cfg, lay = get_preset("llama-2-13b"), Layout(tp=1, pp=4, dp=1, micro_batch=1)
    result = step_time(cfg, H100, 4096, 8, lay)  # m = 8 micro-batches on 4 stages
    micro = sum(tp_model._micro_times(cfg, H100, 4096, lay).values())
    assert result.microbatches == 8
    assert result.breakdown.bubble_s == pytest.approx(3 * micro)
    share = result.breakdown.bubble_s / (result.breakdown.bubble_s + 8 * micro)
    assert share == pytest.approx(3 / 11)  # (p - 1) / (m + p - 1)


def test_tensor_parallel_all_reduces_by_hand():
    cfg, lay = get_preset("llama-2-7b"), Layout(tp=8, pp=1, dp=1)
    # 4 all-reduces per layer (2 forward, 2 backward) of s*b*h bf16 values, ring: 2 (t-1)/t of it each way,
    # over NVLink at 450 GB/s: 32 layers x 4 x 2 x 7/8 x (4096 x 4096 x 2 B) / 450e9 = 16.7 ms.
    expected = 32 * 4 * 2 * 7 / 8 * (4096 * 4096 * 2) / 450e9
    assert tp_model._micro_times(cfg, H100, 4096, lay)["communication"] == pytest.approx(expected)
    assert expected == pytest.approx(0.0167, rel=0.01)


def test_data_parallel_gradient_all_reduce_by_hand():
    cfg = get_preset("llama-2-7b")
    params = tp_model.local_params(cfg, Layout(tp=1, pp=1, dp=64))
    # ZeRO-1 over 64 GPUs on 8 nodes: reduce-scatter + all-gather of bf16 grads. All 8 GPUs of a node are in
    # the ring, which NCCL splits over the node's 8 NICs: 8 x 50 GB/s = 400 GB/s per GPU (under NVLink's 450).
    expected = 2 * 63 / 64 * params * 2 / 400e9
    assert tp_model._dp_seconds(params, H100, Layout(tp=1, pp=1, dp=64, zero_stage=1), 4) == pytest.approx(expected)
    # ZeRO-3 adds two parameter all-gathers and reduce-scatters every micro-batch.
    zero3 = tp_model._dp_seconds(params, H100, Layout(tp=1, pp=1, dp=64, zero_stage=3), 4)
    assert zero3 == pytest.approx(3 * 4 / 2 * expected)


def test_data_parallel_ring_uses_the_nics_of_its_members_on_each_node():
    cfg = get_preset("llama-2-7b")
    # TP8 x DP8 on 64 GPUs: each DP group has one GPU per node, so one 50 GB/s NIC per GPU.
    tp8 = Layout(tp=8, pp=1, dp=8, zero_stage=1)
    params = tp_model.local_params(cfg, tp8)
    assert tp_model._dp_seconds(params, H100, tp8, 1) == pytest.approx(2 * 7 / 8 * params * 2 / 50e9)
    # TP2: 4 members per node share 4 NICs, 200 GB/s; one node only: NVLink.
    assert tp_model._dp_bandwidth(H100, Layout(tp=2, pp=1, dp=32)) == pytest.approx(200e9)
    assert tp_model._dp_bandwidth(H100, Layout(tp=1, pp=1, dp=8)) == pytest.approx(450e9)


def test_full_recomputation_costs_a_third_more_matmul_time():
    cfg = get_preset("llama-2-7b")
    plain = tp_model._micro_times(cfg, H100, 4096, Layout(tp=1, pp=1, dp=1))["compute"]
    full = tp_model._micro_times(cfg, H100, 4096, Layout(tp=1, pp=1, dp=1, recompute="full"))["compute"]
    assert full == pytest.approx(4 / 3 * plain)


def test_partial_recomputation_lies_between_none_and_full():
    """Recomputing k of a stage's L layers: each costs a third more of its matmuls and its two TP collectives
    again, and keeps only its input; memory falls by the same amount per layer, and k = L is full recomputation
    (memory, time) while k = 0 is none apart from the one recomputed layer alive in the backward pass."""
    cfg = get_preset("llama-2-70b")
    base = Layout(tp=4, pp=4, dp=4, zero_stage=2, micro_batch=1, interleave=2)
    layers = 20  # 80 layers on 4 stages
    none, full = (tp_model._micro_times(cfg, H100, 4096, base._replace(recompute=kind)) for kind in ("none", "full"))
    memory = [layout_memory_gb(cfg, 4096, base._replace(recompute="partial", recompute_layers=k), 8)
              for k in range(1, layers + 1)]
    steps = [a - b for a, b in zip(memory, memory[1:])]
    assert min(steps) > 0 and max(steps) == pytest.approx(min(steps))
    assert memory[-1] == pytest.approx(layout_memory_gb(cfg, 4096, base._replace(recompute="full"), 8))
    for k in (1, 5, 20):
        part = tp_model._micro_times(cfg, H100, 4096, base._replace(recompute="partial", recompute_layers=k))
        for key in ("compute", "memory", "communication"):
            assert part[key] == pytest.approx(none[key] + k / layers * (full[key] - none[key]))
    with pytest.raises(PlannerError, match="1 to 20 layers"):
        tp_model._micro_times(cfg, H100, 4096, base._replace(recompute="partial", recompute_layers=21))


def test_search_recomputes_the_fewest_layers_that_fit():
    """70B on 16 H100: nothing fits without recomputation, full recomputation wastes time; the search recomputes
    just enough layers (one fewer does not fit) and beats full recomputation of the same layout."""
    cfg = get_preset("llama-2-70b")
    best = search_layouts(cfg, 16, H100, 4096)
    assert best.recompute == "partial" and 0 < best.recompute_layers < cfg.n_layers / best.pp
    lay = Layout(tp=best.tp, pp=best.pp, dp=best.dp, ep=best.ep, zero_stage=best.zero_stage,
                 micro_batch=best.micro_batch, recompute="partial", interleave=best.interleave,
                 recompute_layers=best.recompute_layers)
    fewer = evaluate(cfg, H100, 4096, 1024, lay._replace(recompute_layers=best.recompute_layers - 1))
    assert not fewer.fits and best.fits
    full = evaluate(cfg, H100, 4096, 1024, lay._replace(recompute="full", recompute_layers=0))
    assert best.tokens_per_s_per_gpu > full.tokens_per_s_per_gpu
    assert "layers/stage" in layout_summary(best)


def test_speed_ceiling_bounds_every_layout_so_branch_and_bound_is_exact():
    """The search times layouts in order of SpeedModel.ceiling and stops below the slowest kept: that is exact only
    if no layout is faster than its ceiling. Checked on every candidate (and partial variants) of two models."""
    for name, gpus in (("llama-2-70b", 64), ("mixtral-8x7b", 32)):
        cfg = get_preset(name)
        speed_of = tp_model.SpeedModel(cfg, H100, 4096, 1024)
        layouts = candidate_layouts(cfg, gpus)
        layouts += [lay._replace(recompute="partial", recompute_layers=1) for lay in layouts[::5]]
        assert all(speed_of(lay) <= speed_of.ceiling(lay) for lay in layouts)


def test_layout_memory_matches_the_single_gpu_estimate():
    cfg = get_preset("llama-2-7b")
    single = training_memory(cfg, 2048, 1, gpus=1)
    layout = layout_memory_gb(cfg, 2048, Layout(tp=1, pp=1, dp=1, zero_stage=0), 1)
    assert layout == pytest.approx(single.total_gb, rel=0.02)
    split = layout_memory_gb(cfg, 2048, Layout(tp=2, pp=2, dp=1, zero_stage=0), 4)
    assert split < 0.6 * layout  # state quartered; activations of 2 in-flight micro-batches halved by tp


def test_bad_requests_are_planner_errors():
    with pytest.raises(PlannerError):
        search_layouts("llama-2-7b", 0, "H100")
    with pytest.raises(PlannerError, match="does not fit"):
        search_layouts("llama-2-70b", 1, "L4", 4096)
    with pytest.raises(PlannerError, match="cannot keep"):
        search_layouts("llama-2-7b", 1024, "H100", 4096, global_batch_tokens=4096)


@pytest.mark.parametrize("run", published_runs(), ids=lambda r: r.id)
def test_every_published_run_within_tolerance(run):
    """Each row of data/published_runs.csv, predicted at its published layout. Tolerance 20 MFU points: the
    worst held-out rows (MPT-70B on 32 H100 with FSDP; Llama 3 405B's deep pipeline, which interleaving hides)
    miss by 16-18; RESULTS.md lists every row."""
    check = next(c for c in check_all() if c.id == run.id)
    assert abs(check.error_points) <= 20


def test_held_out_accuracy_holds():
    checks = check_all()
    held_out = summarise(checks, "held-out")
    assert held_out.runs >= 20
    assert held_out.median_abs_points <= 3.0
    assert held_out.within_5_points >= 0.75 * held_out.runs
    assert median(abs(c.error_points) for c in checks if c.split == "calibration") <= 3.0


def test_realized_share_is_what_the_published_runs_give():
    """`--mfu auto` plans with REALIZED_SHARE x the best layout's MFU: the constant is the median over the
    calibration rows of published / best-layout MFU, its range their 10th-90th percentiles; the held-out rows
    (never used) must agree within 0.05 (median) and 0.1 (each percentile)."""
    shares = realized_shares()
    assert {s.id for s in shares} == {r.id for r in published_runs()}
    for split, tolerance in (("calibration", 0.005), ("held-out", 0.05)):
        values = [s.share for s in shares if s.split == split]
        deciles = quantiles(values, n=10, method="inclusive")
        assert median(values) == pytest.approx(REALIZED_SHARE, abs=tolerance)
        assert deciles[0] == pytest.approx(REALIZED_RANGE[0], abs=2 * tolerance)
        assert deciles[8] == pytest.approx(REALIZED_RANGE[1], abs=2 * tolerance)
    assert expected_mfu(0.6) == pytest.approx(0.6 * REALIZED_SHARE) and expected_mfu(1.2) == 1.0
    low, high = hours_range(1000.0)
    assert low == pytest.approx(1000 * REALIZED_SHARE / REALIZED_RANGE[1])
    assert high == pytest.approx(1000 * REALIZED_SHARE / REALIZED_RANGE[0])


def test_interleaving_divides_the_bubble_by_the_chunks():
    cfg = get_preset("llama-2-13b")
    lay = Layout(tp=1, pp=4, dp=1, interleave=2)
    result = step_time(cfg, H100, 4096, 8, lay)
    micro = sum(tp_model._micro_times(cfg, H100, 4096, lay).values())
    assert result.breakdown.bubble_s == pytest.approx(3 / 2 * micro)
    # With fewer micro-batches than stages Megatron cannot interleave: the plain bubble comes back.
    assert step_time(cfg, H100, 4096, 2, lay).breakdown.bubble_s == pytest.approx(3 * micro)


def test_pretraining_memory_against_published_peaks():
    """torchtitan's published peaks (data/published_memory.csv); rows whose activation checkpointing differs from
    the model's are listed, not scored."""
    checks = [check_memory(row) for row in published_memory()]
    scored = [c for c in checks if c.comparable]
    assert len(scored) >= 2
    assert all(abs(c.error) <= 0.2 for c in scored), [(c.id, round(c.error, 2)) for c in scored]


def test_plan_table_states_the_card_in_the_same_gb_as_the_estimates():
    result = plan.make_plan(plan.PlanRequest(budget=budget.BudgetRequest(gpus=64, days=10, accelerator="H100")))
    assert plan.plan_table(result)["gpu_memory_gb"].iloc[0] == pytest.approx(85.899, rel=1e-4)  # 80 GiB
    assert result.plans[0].layout is not None and result.plans[0].layout.gpus == 64


def test_search_models_match_the_typed_results_on_every_candidate():
    # The search ranks with SpeedModel and layout_memory_model (terms computed once per degree); evaluate
    # builds the typed result term by term. They must agree exactly, or the ranking and the shown numbers drift.
    for name, gpus in (("llama-2-70b", 64), ("mixtral-8x7b", 32)):
        cfg = get_preset(name)
        # One of each for all candidates, as in the search: its caches must not mix up layouts.
        speed_of, memory_of = tp_model.SpeedModel(cfg, H100, 4096, 1024), layout_memory_model(cfg, 4096)
        partial = [lay._replace(recompute="partial", recompute_layers=1) for lay in candidate_layouts(cfg, gpus)[::29]]
        for lay in candidate_layouts(cfg, gpus)[::7] + partial:
            result = evaluate(cfg, H100, 4096, 1024, lay)
            # partial layouts interpolate between none and full in the search: equal up to rounding
            assert speed_of(lay) == pytest.approx(result.tokens_per_s_per_gpu, rel=1e-12)
            assert memory_of(lay, result.microbatches) == result.memory_gb
