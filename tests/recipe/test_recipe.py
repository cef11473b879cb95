"""The run recipe against the papers it comes from: Sardana 2024, Gadre 2024, Muennighoff 2023, DeepSeek LLM
2024, Step Law 2025, and the quoted-figure checks."""
import math

import pytest

from planner.core import laws
from planner.errors import PlannerError
from planner.recipe import claims, data_limits, hparams, inference, overtrain

DEMANDS = [0, 1e11, 1e12, 1e13, 1e14]


@pytest.mark.parametrize("law", ["besiroglu2024", "hoffmann2022-unrounded"])
@pytest.mark.parametrize("flops", [1e21, 5.76e23, 1e25])
def test_more_inference_means_smaller_model_more_tokens_same_loss(law, flops):
    """Sardana et al. 2024, §3 / Fig. 2: with growing demand the optimum moves to smaller N and larger D at the
    same loss, and the total never exceeds the training-only optimum's total for the same demand."""
    plans = [inference.inference_aware(law, flops, inference.InferenceDemand(tokens=t)) for t in DEMANDS]
    for smaller, larger in zip(plans, plans[1:]):
        assert larger.params < smaller.params and larger.tokens > smaller.tokens
    for p in plans:
        assert p.loss == pytest.approx(p.target_loss, rel=1e-9)
        assert p.total_flops <= p.chinchilla.total_flops * (1 + 1e-12)
        assert p.total_flops == pytest.approx(p.training_flops + p.inference_flops)
    assert plans[0].params == pytest.approx(laws.get_law(law).optimal(flops).params)


def test_inference_aware_is_the_minimum_of_the_cost_curve():
    demand = inference.InferenceDemand(tokens=1e13)
    plan = inference.inference_aware("besiroglu2024", 5.76e23, demand)
    curve = inference.cost_curve("besiroglu2024", 5.76e23, demand, points=400)
    assert plan.total_flops <= curve["total_flops"].min() * (1 + 1e-6)


def test_sardana_example_direction_and_size():
    """Sardana et al. 2024 (§3, Fig. 1): a Chinchilla-70B-quality model serving ~1e13 tokens is best trained
    noticeably smaller and on more data; here 72B -> 34B params and 18 -> 109 tokens/param, 29% cheaper."""
    plan = inference.inference_aware("besiroglu2024", 5.76e23, inference.InferenceDemand(tokens=1e13))
    assert 0.3 < plan.params / plan.chinchilla.params < 0.6
    assert 0.2 < plan.total_saving < 0.4


def test_slow_decoding_pushes_the_optimum_smaller_and_prices_in_dollars():
    fast = inference.inference_aware("besiroglu2024", 1e23, inference.InferenceDemand(tokens=1e12), "H100")
    slow = inference.inference_aware("besiroglu2024", 1e23, inference.InferenceDemand(
        tokens=1e12, prefill_share=0.2, mfu_generate=0.05), "H100")
    assert slow.params < fast.params and slow.usd > fast.usd > 0


def test_allocation_only_laws_are_refused():
    with pytest.raises(PlannerError, match="loss surface"):
        inference.inference_aware("hoffmann2022-approach1", 1e22, inference.InferenceDemand(tokens=1e12))


def test_overtraining_penalty_grows_with_ratio():
    """Gadre et al. 2024 (Fig. 1, §2): loss rises slowly and predictably with the token multiplier M;
    at M ~ 20 (the compute-optimal ratio) there is no penalty."""
    table = overtrain.overtrain_table("besiroglu2024", 5.76e23)
    penalties = [r.loss_penalty for r in table.rows]
    assert penalties == sorted(penalties) and abs(penalties[0]) < 1e-3
    assert all(r.extra_compute >= -1e-9 for r in table.rows)
    savings = [r.inference_saving for r in table.rows]
    assert savings == sorted(savings)
    for r in table.rows:  # the same-loss run really reaches the compute-optimal loss
        n, d = r.params_same_loss, r.ratio * r.params_same_loss
        assert laws.get_law("besiroglu2024").loss(n, d) == pytest.approx(table.optimal.loss, rel=1e-6)


def test_llama3_8b_on_15t():
    """8B on 15T (Llama 3 model card): ~1,900 tokens/param; the same loss costs ~4-6x less compute at the
    optimum, with a model ~4x larger: the over-training buys a ~75% serving saving."""
    point = overtrain.overtrain_point("besiroglu2024", 8e9, 15e12)
    assert 3 < point.extra_compute < 7
    assert 0.6 < point.inference_saving < 0.9
    assert point.loss_penalty > 0
    assert point.optimal_same_loss.loss == pytest.approx(point.loss, rel=1e-9)


def test_repeated_data_muennighoff():
    """Muennighoff et al. 2023 eq. 5: four epochs keep ~91% of their value (R_D* = 15.4); one epoch is all."""
    four = data_limits.data_limits(4e12, 1e12)
    assert four.epochs == 4 and four.warning == ""
    expected = 1e12 + 1e12 * data_limits.R_D_STAR * (1 - math.exp(-3 / data_limits.R_D_STAR))
    assert four.effective_tokens == pytest.approx(expected)
    assert 0.85 < four.effective_share < 0.95
    assert data_limits.data_limits(1e12, 5e12).epochs == 1
    assert "epochs" in data_limits.data_limits(50e12, 1e12).warning


def test_deepseek_rule_on_deepseek_7b():
    """DeepSeek LLM 2024, Table 2: the 7B model (30 layers, width 4096, 4096 context, 2T tokens) used
    lr 4.2e-4 and a 9.4M-token batch (2304 x 4096) from eq. 1 with M from eq. 2."""
    m = 72 * 30 * 4096**2 + 6 * 30 * 4096 * 4096
    lr, batch = hparams.deepseek_rule(m * 2e12)
    assert lr == pytest.approx(4.2e-4, rel=0.03)
    assert batch == pytest.approx(2304 * 4096, rel=0.06)


def test_hparams_side_by_side():
    h = hparams.hparams_for_flops(1e23)
    assert [r.law for r in h.rules] == ["deepseek2024", "steplaw2025"]
    assert h.lr == h.rules[0].lr and h.batch_tokens == h.rules[0].batch_tokens
    assert all(1e-5 < r.lr < 1e-2 and 1e5 < r.batch_tokens < 1e8 for r in h.rules)
    # Step Law: the batch depends on D only; the LR falls with N at fixed D (N^-0.713)
    a, b = hparams.hparams(1e9, 1e11), hparams.hparams(4e9, 1e11)
    assert a.rules[1].batch_tokens == b.rules[1].batch_tokens and b.rules[1].lr < a.rules[1].lr
    assert "critical batch" in h.critical_batch_caveat and "WSD" in h.schedule_advice


def test_claim_llama2_70b():
    """Llama 2 70B on 2T tokens is 6ND = 8.4e23 FLOPs = 9,722 PF-days, so '6000 PF-days' is 38% low."""
    claim = claims.check_claim(70e9, 2e12, "6000 PF-days")
    assert claim.flops == pytest.approx(8.4e23) and claim.flagged
    assert claim.disagreement == pytest.approx(6000 * laws.PF_DAY / 8.4e23 - 1)


def test_claim_gpt3_agrees_and_moe_uses_active_params():
    """Brown et al. 2020, Table D.1: GPT-3 175B on 300B tokens is 3,640 PF-days."""
    assert not claims.check_claim(175e9, 300e9, "3640 PF-days").flagged
    moe = claims.check_claim(1.8e12, 10e12, "1.08e26 FLOPs", active_params=280e9)
    assert moe.flagged and "mixture of experts" in moe.explanation


def test_quoted_figures_table():
    figures = {f.name.split(",")[0].split(" (")[0]: f for f in claims.quoted_figures()}
    assert not figures["GPT-3 175B"].claim.flagged
    assert figures["LLaMA 2 70B"].claim.flagged
    rule = [f for f in claims.quoted_figures() if f.name.startswith("rule of thumb")][0]
    assert rule.claim.params == pytest.approx(1.7e9, rel=0.05) and rule.claim.tokens == rule.claim.params


def test_bad_claims_are_planner_errors():
    with pytest.raises(PlannerError):
        claims.check_claim(70e9, 2e12, "lots")
    with pytest.raises(PlannerError):
        claims.check_claim(70e9, 2e12, "6000 PF-days", active_params=80e9)


def test_clip_quote_is_the_peak_capacity_of_its_gpu_hours():
    """CLIP ViT-L/14: 12 days on 256 V100 (Radford et al. 2021 §2.5) at the V100's 125 TFLOP/s FP16 peak is
    ~384 PF-days, close to the '~300 PF-days' often quoted; the model FLOPs are ~78 PF-days."""
    claim = claims.check_vision_claim("clip-vit-l-14", "300 PF-days")
    assert claim.flagged and 70 < claim.flops_pf_days < 85
    assert "peak capacity" in claim.explanation and "384 PF-days" in claim.explanation
