"""The model catalog against published tables: 6ND vs reported compute, implied MFU from reported GPU-hours."""
import pytest

from planner.core.budget import mfu_from_throughput, training_cost
from planner.errors import PlannerError
from planner.core.laws import PF_DAY
from planner.catalog import (DISAGREEMENT_THRESHOLD, CatalogModel, catalog, get_model, model_row,
                            model_table)

COURSE_MODELS = ["BERT-base", "BERT-large", "GPT-2", "GPT-3 175B", "CLIP ViT-L/14", "DINOv2 ViT-g/14",
                 "LLaMA-7B", "LLaMA-13B", "LLaMA-33B", "LLaMA-65B", "Llama-2-7B", "Llama-2-13B", "Llama-2-70B",
                 "Llama-3-8B", "Llama-3-70B", "Llama-3.1-405B", "PaLM 540B", "Chinchilla 70B", "Gopher 280B",
                 "Mixtral 8x7B", "Phi-2", "GPT-4", "BLOOM 176B", "OPT-175B", "DeepSeek-V3"]


def test_catalog_holds_every_course_model_each_with_a_source():
    for name in COURSE_MODELS:
        assert get_model(name).source.strip()
    assert all(m.source.strip() for m in catalog())


def test_gpt4_is_marked_as_an_unofficial_estimate():
    gpt4 = get_model("GPT-4")
    assert gpt4.estimate and "UNOFFICIAL" in gpt4.source
    assert sum(m.estimate for m in catalog()) == 1


@pytest.mark.parametrize("name, table_flops", [
    ("GPT-3 Small", 2.25e20), ("GPT-3 Medium", 6.41e20), ("GPT-3 Large", 1.37e21), ("GPT-3 XL", 2.38e21),
    ("GPT-3 2.7B", 4.77e21), ("GPT-3 6.7B", 1.20e22), ("GPT-3 13B", 2.31e22), ("GPT-3 175B", 3.14e23),
])
def test_6nd_reproduces_gpt3_table_d1(name, table_flops):
    """Brown et al. 2020 ('Language Models are Few-Shot Learners'), Table D.1, total training compute for
    300B tokens with the table's parameter counts (125M ... 174.6B). The table gives 3 significant figures,
    so agreement within 0.5% is exact up to its rounding."""
    row = model_row(get_model(name))
    assert row.tokens == 300e9
    assert row.compute_flops == pytest.approx(table_flops, rel=0.005)
    assert not row.compute_flagged


def test_gpt3_175b_is_3640_pf_days():
    """Brown et al. 2020, Table D.1: GPT-3 175B used 3,640 PF-days (3.14e23 FLOPs)."""
    assert model_row(get_model("GPT-3 175B")).compute_flops / PF_DAY == pytest.approx(3640, rel=0.002)


LLAMA1_TABLE15 = {"LLaMA-7B": 82_432, "LLaMA-13B": 135_168, "LLaMA-33B": 530_432, "LLaMA-65B": 1_022_362}


def test_llama1_implied_mfu_is_plausible_for_all_four_sizes():
    """Touvron et al. 2023 ('LLaMA'), Table 15: 82,432 / 135,168 / 530,432 / 1,022,362 A100-80GB GPU-hours
    for 7B/13B (1.0T tokens) and 33B/65B (1.4T tokens), Table 2. Large dense runs report MFU of 35-60%."""
    for name, hours in LLAMA1_TABLE15.items():
        row = model_row(get_model(name))
        assert row.reported_gpu_hours == hours and row.reported_accelerator == "A100-80GB"
        assert 0.35 <= row.implied_mfu <= 0.6, (name, row.implied_mfu)
        assert row.mfu_plausible


def test_llama1_65b_hours_and_days_reproduced_by_the_cost_model():
    """Touvron et al. 2023 ('LLaMA'): 65.2B params, 1.4T tokens, 1,022,362 A100-80GB hours (Table 15);
    §2.4: "around 380 tokens/sec/GPU on 2048 A100 GPU with 80GB ... approximately 21 days".
    The MFU implied by the hours (~0.48) must agree with the MFU of the stated throughput, and the cost
    model at that MFU must give back the published hours and ~21 days on 2048 GPUs."""
    row = model_row(get_model("LLaMA-65B"))
    assert row.implied_mfu == pytest.approx(0.48, abs=0.01)
    throughput_mfu = mfu_from_throughput(380 * 2048 * 6 * 65.2e9, chips=2048, accelerator="A100-80GB")
    assert row.implied_mfu == pytest.approx(throughput_mfu, rel=0.02)
    cost = training_cost(65.2e9, 1.4e12, "A100-80GB", gpus=2048, mfu=row.implied_mfu)
    assert cost.gpu_hours == pytest.approx(1_022_362, rel=1e-9)
    assert cost.days == pytest.approx(21, abs=0.5)


def test_llama2_70b_implied_mfu():
    """Touvron et al. 2023 ('Llama 2'), Table 2: 1,720,320 A100-80GB GPU-hours for 70B on 2T tokens."""
    row = model_row(get_model("Llama-2-70B"))
    assert row.reported_gpu_hours == 1_720_320
    assert 0.35 <= row.implied_mfu <= 0.6


def test_llama31_405b_quoted_compute_agrees_with_6nd_and_hours_imply_lower_mfu_than_reported():
    """Dubey et al. 2024 ('The Llama 3 Herd of Models'): 405B params, 15.6T tokens, 3.8e25 FLOPs, MFU 38-43%
    (Table 4); the model card's 30.84M H100 GPU-hours are cumulative, so they imply a lower MFU."""
    row = model_row(get_model("Llama-3.1-405B"))
    assert row.compute_disagreement == pytest.approx(0, abs=0.02) and not row.compute_flagged
    assert 0.3 < row.implied_mfu < row.reported_mfu


def test_chinchilla_and_gopher_agree_with_the_quoted_gopher_budget():
    """Hoffmann et al. 2022: Chinchilla (70B, 1.4T tokens) used Gopher's budget of 5.76e23 FLOPs."""
    chinchilla = model_row(get_model("Chinchilla 70B"))
    assert chinchilla.compute_flops == pytest.approx(5.88e23)
    assert abs(chinchilla.compute_disagreement) < 0.03
    assert not model_row(get_model("Gopher 280B")).compute_flagged


def test_moe_models_use_active_params_for_6nd():
    """DeepSeek-AI 2024 ('DeepSeek-V3 Technical Report'): 37B of 671B params active, 14.8T tokens, 2,664K H800
    GPU-hours of pre-training (Table 1)."""
    row = model_row(get_model("DeepSeek-V3"))
    assert row.compute_flops == pytest.approx(6 * 37e9 * 14.8e12)
    assert row.reported_accelerator == "H800" and 0.25 < row.implied_mfu < 0.5


def test_quoted_compute_far_from_6nd_is_flagged():
    """A '6,000 PF-days for a 70B model on 2T tokens' style claim is ~38% below 6ND: flagged."""
    claim = CatalogModel(name="claim", family="test", params=70e9, tokens=2e12,
                         quoted_compute_flops=6000 * PF_DAY, source="synthetic example")
    row = model_row(claim)
    assert row.compute_disagreement == pytest.approx(6000 * PF_DAY / 8.4e23 - 1)
    assert abs(row.compute_disagreement) > DISAGREEMENT_THRESHOLD and row.compute_flagged


def test_models_without_published_tokens_have_no_compute_or_cost():
    for name in ["GPT-2", "Mixtral 8x7B"]:
        row = model_row(get_model(name))
        assert row.compute_flops is None and row.cost is None and row.implied_mfu is None


def test_vision_rows_take_compute_from_samples_seen():
    """CLIP ViT-L/14: 12.8B pairs x (257 image + 77 text tokens) through their towers (Radford et al. 2021 §2.5),
    6.7e21 FLOPs; on the published 12 days x 256 V100 (73,728 GPU-hours) that is ~20% MFU of the FP16 peak."""
    row = model_row(get_model("CLIP ViT-L/14"))
    assert row.params == 427_616_513
    assert row.compute_flops == pytest.approx(6 * (303_179_776 * 257 + 123_060_480 * 77) * 12.8e9)
    assert row.implied_mfu == pytest.approx(row.compute_flops / (73_728 * 3600 * 125e12))
    assert row.cost.flops == pytest.approx(row.compute_flops)


def test_model_table_prices_every_run_on_the_chosen_accelerator():
    h100 = {r.name: r for r in model_table("H100-SXM", 0.4, 1024)}
    a100 = {r.name: r for r in model_table("A100-80GB", 0.4, 1024)}
    llama = "LLaMA-65B"
    assert h100[llama].cost.accelerator == "H100-SXM" and a100[llama].cost.accelerator == "A100-80GB"
    # A100 hours are 989/312 times as many as H100 hours for the same FLOPs and MFU.
    assert a100[llama].cost.gpu_hours / h100[llama].cost.gpu_hours == pytest.approx(989 / 312)
    assert h100[llama].implied_mfu == a100[llama].implied_mfu  # the reported run does not depend on the choice


def test_unknown_model_and_bad_choices_raise_planner_errors():
    with pytest.raises(PlannerError, match="unknown model"):
        get_model("GPT-5")
    with pytest.raises(PlannerError, match="MFU"):
        model_table("H100-SXM", mfu=0)
    with pytest.raises(PlannerError, match="unknown accelerator"):
        model_table("Z80")


def test_model_table_without_an_mfu_keeps_everything_but_the_cost():
    """The page shows the catalog while the user corrects an invalid MFU: only the cost depends on it."""
    priced = {r.name: r for r in model_table("H100-SXM", 0.4, 1024)}
    unpriced = {r.name: r for r in model_table("H100-SXM", None, 1024)}
    assert set(unpriced) == set(priced) and all(r.cost is None for r in unpriced.values())
    for name, row in unpriced.items():
        assert row.model_dump(exclude={"cost"}) == priced[name].model_dump(exclude={"cost"}), name
