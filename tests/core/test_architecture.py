"""Parameter counts against transformers itself and the published totals; FLOPs; suggested shapes."""
import pytest

from planner.core.architecture import (PRESETS, ModelConfig, flops_per_token, get_preset, param_counts,
                                  suggest_shape, to_hf_config)
from planner.errors import PlannerError

# Totals as published on the model cards / HF hubs ("num_parameters").
PUBLISHED_TOTALS = {
    "gpt2": 124_439_808,
    "gpt2-xl": 1_557_611_200,
    "llama-2-7b": 6_738_415_616,
    "llama-2-70b": 68_976_648_192,
    "llama-3-8b": 8_030_261_248,
    "mistral-7b": 7_241_732_096,
    "mixtral-8x7b": 46_702_792_704,
}


def _hf_count(cfg: ModelConfig) -> int:
    """Instantiate with transformers on the meta device (no memory) and count unique parameters."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(to_hf_config(cfg))
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied weight once


@pytest.mark.parametrize("name", list(PRESETS))
def test_param_count_equals_what_transformers_instantiates(name):
    cfg = get_preset(name)
    assert param_counts(cfg).total == _hf_count(cfg)


@pytest.mark.parametrize("name,total", PUBLISHED_TOTALS.items())
def test_param_count_equals_published_total(name, total):
    assert param_counts(get_preset(name)).total == total


def test_custom_shapes_match_transformers_too():
    shapes = [
        ModelConfig(family="llama", vocab_size=1000, d_model=192, n_layers=3, n_heads=6, n_kv_heads=3, d_ff=512,
                    tie_embeddings=True),
        ModelConfig(family="gpt2", vocab_size=300, d_model=96, n_layers=2, n_heads=3, d_ff=200, max_seq_len=77,
                    tie_embeddings=False),
        ModelConfig(family="mixtral", vocab_size=500, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=96,
                    n_experts=4, experts_per_token=2),
    ]
    for cfg in shapes:
        assert param_counts(cfg).total == _hf_count(cfg), cfg


def test_embedding_split_and_tying():
    gpt2 = param_counts(get_preset("gpt2"))
    assert gpt2.embedding == (50257 + 1024) * 768  # tied head: token + position embedding only
    assert gpt2.non_embedding == gpt2.total - gpt2.embedding
    llama = param_counts(get_preset("llama-2-7b"))
    assert llama.embedding == 2 * 32000 * 4096  # untied: input embedding and lm_head
    tied = param_counts(get_preset("llama-3.2-1b"))
    assert tied.embedding == 128256 * 2048


def test_mixtral_active_params_are_top2_experts():
    counts = param_counts(get_preset("mixtral-8x7b"))
    expert = 3 * 4096 * 14336
    assert counts.total - counts.active == 32 * 6 * expert  # 6 of 8 experts idle per token per layer
    assert counts.active == pytest.approx(12.9e9, rel=0.01)  # "12.9B active" (Jiang et al. 2024)
    dense = param_counts(get_preset("mistral-7b"))
    assert dense.active == dense.total


def test_training_flops_are_6n_plus_attention():
    cfg = get_preset("llama-2-7b")
    counts = param_counts(cfg)
    f = flops_per_token(cfg, seq_len=4096)
    n = counts.non_embedding + 4096 * 32000  # plus the LM-head matmul
    assert f.dense == 6 * n
    assert f.attention == 12 * 32 * 4096 * 4096
    assert f.total == f.dense + f.attention
    inference = flops_per_token(cfg, seq_len=4096, training=False)
    assert inference.dense == 2 * n and inference.attention == 2 * 32 * 4096 * 4096
    assert flops_per_token(cfg).seq_len == cfg.max_seq_len


def test_flops_close_to_6n_for_gpt3_scale_and_moe_uses_active():
    # With N ~ 12·L·d², attention/dense = 12·L·d·T / (6·12·L·d²) = T / (6d): ~4% for 70B at 2048 tokens.
    f = flops_per_token(get_preset("llama-2-70b"), seq_len=2048)
    assert f.attention / f.dense == pytest.approx(2048 / (6 * 8192), rel=0.1)
    moe = flops_per_token(get_preset("mixtral-8x7b"), seq_len=2048)
    counts = param_counts(get_preset("mixtral-8x7b"))
    assert moe.dense == 6 * (counts.active_non_embedding + 4096 * 32000)
    assert moe.dense < 6 * counts.total / 3


def test_unknown_preset_lists_names():
    with pytest.raises(PlannerError, match="llama-2-7b"):
        get_preset("llama-9")


def test_invalid_shapes_are_rejected():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        ModelConfig(vocab_size=10, d_model=100, n_layers=1, n_heads=3, d_ff=10)
    with pytest.raises(ValueError, match="n_kv_heads"):
        ModelConfig(vocab_size=10, d_model=96, n_layers=1, n_heads=6, n_kv_heads=4, d_ff=10)


SHAPE_CASES = [  # (family, target params, vocab, seq_len): tiny CPU models use a small vocabulary
    *[("llama", t, 256, 2048) for t in (1e5, 3e5, 1e6, 3e6, 1e7)],
    # (GPT-2 at 1e5 falls between its two smallest shapes, 83k and 133k, because of biases and wpe.)
    *[("gpt2", t, 256, 256) for t in (2e5, 3e5, 1e6, 3e6, 1e7)],
    *[("mixtral", t, 32000, 2048) for t in (1e7, 1e8)],
    *[(family, t, 32000, 2048) for family in ("llama", "gpt2", "mixtral")
      for t in (1e8, 1e9, 7e9, 7e10, 4e11, 1e12)],
]


@pytest.mark.parametrize("family,target,vocab,seq_len", SHAPE_CASES)
def test_suggest_shape_is_close_and_conventional(family, target, vocab, seq_len):
    cfg = suggest_shape(target, family=family, vocab_size=vocab, seq_len=seq_len)
    total = param_counts(cfg).total
    assert abs(total / target - 1) <= 0.10
    assert cfg.head_dim in (64, 128) or (cfg.head_dim == 32 and cfg.d_model < 256)  # 32 only for CPU-sized
    assert 16 <= cfg.d_model / cfg.n_layers <= 256
    if target >= 1e8:  # enough shapes to stay inside the usual band
        assert 64 <= cfg.d_model / cfg.n_layers <= 128
    if family != "gpt2":
        assert cfg.d_ff % 256 == 0 and 2.6 <= cfg.d_ff / cfg.d_model <= 4.0
    if target <= 1e9:  # bigger shapes use the same code paths, covered by the presets
        assert _hf_count(cfg) == total


def test_suggest_shape_non_embedding_target():
    big_vocab = suggest_shape(1e6, vocab_size=32000, counting="non_embedding")
    assert abs(param_counts(big_vocab).non_embedding / 1e6 - 1) <= 0.10


def test_suggest_shape_reproduces_llama_2_7b_mlp_width():
    cfg = suggest_shape(6.74e9, vocab_size=32000)
    assert cfg.d_model == 4096 and cfg.d_ff == 11008 and cfg.n_heads == 32


def test_suggest_shape_refuses_targets_below_the_vocabulary():
    with pytest.raises(PlannerError, match="smaller vocabulary"):
        suggest_shape(1e5, vocab_size=32000)
    with pytest.raises(PlannerError):
        suggest_shape(-1)


def test_explain_shape_reports_its_own_error():
    from planner.core.architecture import explain_shape

    report = explain_shape(3e9, family="mistral", vocab_size=32000)
    assert report.shape.family == "mistral"
    assert report.params == param_counts(report.shape)
    assert report.relative_error == pytest.approx(report.params.total / 3e9 - 1)
    assert abs(report.relative_error) <= 0.10 and 64 <= report.aspect_ratio <= 128


def test_sliding_window_caps_attention_flops_and_reaches_transformers():
    mistral = get_preset("mistral-7b")
    assert flops_per_token(mistral, 32768).attention == flops_per_token(mistral, 4096).attention
    assert to_hf_config(mistral).sliding_window == 4096
    assert to_hf_config(mistral.model_copy(update={"sliding_window": None})).sliding_window is None
    with pytest.raises(ValueError, match="sliding-window"):
        ModelConfig(vocab_size=10, d_model=64, n_layers=1, n_heads=1, d_ff=10, sliding_window=8)
