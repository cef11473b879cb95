"""Memory rules against the literature: ZeRO bytes per parameter, Korthikanti activations, KV cache."""
import pytest

from planner.core.architecture import ModelConfig, get_preset, param_counts
from planner.errors import PlannerError
from planner.core.memory import (GIB, activation_bytes, fits_on, usable_gb, inference_memory, kv_cache_bytes, layer_activation_bytes,
                            min_gpus_for_inference, min_gpus_for_training, training_memory)

# GPT-3 175B as Korthikanti et al. 2022 use it (Table 3): a=96, h=12288, L=96, s=2048, v=51200.
GPT3 = ModelConfig(name="gpt3-175b", family="gpt2", vocab_size=51200, d_model=12288, n_layers=96, n_heads=96,
                   d_ff=4 * 12288, max_seq_len=2048, tie_embeddings=True)
S, H, A = 2048, 12288, 96


def _state_gb(mem):
    return mem.weights_gb + mem.grads_gb + mem.optimizer_gb


@pytest.mark.parametrize("optimizer,bytes_per_param", [("adam-mixed", 16), ("adamw-bf16", 8)])
def test_bytes_per_parameter_without_sharding(optimizer, bytes_per_param):
    cfg = get_preset("llama-2-7b")
    mem = training_memory(cfg, seq_len=2048, micro_batch=1, optimizer=optimizer)
    assert _state_gb(mem) * 1e9 == pytest.approx(bytes_per_param * param_counts(cfg).total)


@pytest.mark.parametrize("gpus", [2, 8, 64])
def test_zero_stage_formulas(gpus):
    cfg = get_preset("llama-2-13b")
    p = param_counts(cfg).total

    def state(sharding):
        return _state_gb(training_memory(cfg, 2048, 1, gpus=gpus, sharding=sharding)) * 1e9

    assert state("none") == pytest.approx(16 * p)
    assert state("zero1") == pytest.approx(4 * p + 12 * p / gpus)
    assert state("zero2") == pytest.approx(2 * p + 14 * p / gpus)
    assert state("zero3") == pytest.approx(16 * p / gpus)
    assert state("fsdp") == state("zero3")


def test_korthikanti_per_layer_activations_for_gpt3():
    # Eq. 1: s·b·h·(34 + 5·a·s/h) bytes per layer; for GPT-3 5as/h = 80 (Korthikanti §5).
    assert 5 * A * S / H == 80
    eager = layer_activation_bytes(GPT3, S, 1, attention="eager")
    assert eager == S * H * (34 + 80)  # 2.87 GB per layer at micro-batch 1
    assert layer_activation_bytes(GPT3, S, 4, attention="eager") == 4 * eager
    assert layer_activation_bytes(GPT3, S, 1, attention="flash") == 34 * S * H
    # Selective recomputation drops the 5as/h term: "reduces the activation memory by 70%" for GPT-3.
    without_scores = activation_bytes(GPT3, S, 1, "selective", "eager")
    with_scores = activation_bytes(GPT3, S, 1, "none", "eager")
    head = with_scores - 96 * eager
    assert 1 - (without_scores - head) / (with_scores - head) == pytest.approx(0.70, abs=0.005)


def test_output_layer_terms():
    # Besides the blocks: embedding dropout mask s·b·h, final LayerNorm and head inputs 4·s·b·h,
    # fp32 logits 4·s·b·v (Korthikanti §4.2, no pipeline parallelism).
    total = activation_bytes(GPT3, S, 1, "none", "flash")
    assert total - 96 * 34 * S * H == 5 * S * H + 4 * S * 51200


def test_recompute_saves_memory_in_order():
    for name in ("gpt2", "llama-2-7b", "mixtral-8x7b"):
        cfg = get_preset(name)
        none, selective, full = (activation_bytes(cfg, 2048, 2, r, "eager") for r in ("none", "selective", "full"))
        assert full < selective < none
        assert activation_bytes(cfg, 2048, 2, "full", "flash") < activation_bytes(cfg, 2048, 2, "none", "flash")


def test_full_recompute_keeps_layer_inputs_plus_one_layer():
    cfg = get_preset("llama-2-7b")
    full = activation_bytes(cfg, 4096, 1, "full", "flash")
    none = activation_bytes(cfg, 4096, 1, "none", "flash")
    layer = layer_activation_bytes(cfg, 4096, 1, "flash")
    assert full == pytest.approx(32 * 2 * 4096 * 4096 + layer + (none - 32 * layer))


def test_swiglu_and_gqa_constants():
    mha = get_preset("llama-2-7b")  # h=4096, f=11008, MHA
    per_sbh = layer_activation_bytes(mha, 1024, 1, "flash") / (1024 * 4096)
    # QKV input 2 + Q,K,V 6 + projection input 2 + SwiGLU 2 + 8·f/h + two RMSNorm inputs 4
    assert per_sbh == pytest.approx(16 + 8 * 11008 / 4096)
    gqa = mha.model_copy(update={"n_kv_heads": 8})
    saved = layer_activation_bytes(mha, 1024, 1, "flash") - layer_activation_bytes(gqa, 1024, 1, "flash")
    assert saved == pytest.approx(4 * (1 - 8 / 32) * 1024 * 4096)


def test_activations_scale_with_micro_batch_and_sequence():
    cfg = get_preset("llama-3-8b")
    one = activation_bytes(cfg, 2048, 1)
    assert activation_bytes(cfg, 2048, 4) == pytest.approx(4 * one)
    flash_long = activation_bytes(cfg, 8192, 1, attention="flash")
    eager_long = activation_bytes(cfg, 8192, 1, attention="eager")
    assert flash_long == pytest.approx(4 * one)  # linear in s without the s² scores
    assert eager_long > 4 * flash_long  # the s² term dominates at 8k tokens


def test_more_gpus_never_need_more_memory():
    cfg = get_preset("llama-2-70b")
    for sharding in ("none", "zero1", "zero2", "zero3"):
        totals = [training_memory(cfg, 4096, 1, gpus=k, sharding=sharding).total_gb for k in (1, 2, 8, 64, 512)]
        assert totals == sorted(totals, reverse=True)
        if sharding == "none":
            assert len(set(totals)) == 1
        else:
            assert totals[-1] < totals[0]


def test_min_gpus_for_training_is_the_fewest_that_fit():
    cfg = get_preset("llama-2-70b")
    kwargs = dict(seq_len=4096, micro_batch=1, recompute="full")
    k = min_gpus_for_training(cfg, 80, **kwargs)
    assert k is not None and k > 1
    assert fits_on(training_memory(cfg, gpus=k, sharding="zero3", **kwargs).total_gb, 80)
    assert not fits_on(training_memory(cfg, gpus=k - 1, sharding="zero3", **kwargs).total_gb, 80)
    # Without sharding, a 7B model never fits an 80 GB card (16 B/param = 108 GB), however many there are.
    assert min_gpus_for_training(get_preset("llama-2-7b"), 80, seq_len=2048, micro_batch=1, sharding="none") is None
    assert min_gpus_for_training(get_preset("tiny"), 16, seq_len=256, micro_batch=8, sharding="none") == 1


def test_kv_cache_of_llama_2_7b_at_4096_tokens():
    cfg = get_preset("llama-2-7b")
    assert kv_cache_bytes(cfg, 4096, 1) == 2 * 32 * 32 * 128 * 4096 * 2 == 2_147_483_648
    mem = inference_memory(cfg, seq_len=4096)
    assert mem.kv_cache_gb == pytest.approx(2.147483648)
    assert mem.weights_gb == pytest.approx(2 * 6_738_415_616 / 1e9)
    assert mem.total_gb == pytest.approx(mem.weights_gb + mem.kv_cache_gb)
    # GQA: Llama-2-70B has 8 kv heads of 128 for 80 layers.
    assert kv_cache_bytes(get_preset("llama-2-70b"), 4096, 1) == 2 * 80 * 8 * 128 * 4096 * 2


def test_inference_weight_dtypes_and_batch():
    cfg = get_preset("mistral-7b")
    bf16, int8, int4 = (inference_memory(cfg, d, seq_len=1024).weights_gb for d in ("bf16", "int8", "int4"))
    assert bf16 == pytest.approx(2 * int8) and int8 == pytest.approx(2 * int4)
    assert inference_memory(cfg, batch=8, seq_len=1024).kv_cache_gb == pytest.approx(
        8 * inference_memory(cfg, batch=1, seq_len=1024).kv_cache_gb)
    assert inference_memory(cfg).seq_len == cfg.max_seq_len


def test_min_gpus_for_inference():
    cfg = get_preset("llama-2-70b")
    assert min_gpus_for_inference(cfg, 80, seq_len=4096) == 2  # 138 GB of bf16 weights + 1.3 GB cache
    assert min_gpus_for_inference(cfg, 80, weights_dtype="int4", seq_len=4096) == 1
    assert min_gpus_for_inference(cfg, 0.001) is None


def test_bad_input_is_a_planner_error():
    cfg = get_preset("tiny")
    with pytest.raises(PlannerError, match="micro_batch"):
        training_memory(cfg, 256, 0)
    with pytest.raises(PlannerError, match="sharding"):
        training_memory(cfg, 256, 1, sharding="zero4")
    with pytest.raises(PlannerError, match="weights_dtype"):
        inference_memory(cfg, weights_dtype="int3")
    with pytest.raises(PlannerError, match="GPU memory"):
        min_gpus_for_training(cfg, -1, seq_len=256, micro_batch=1)


def test_sliding_window_caps_the_kv_cache():
    mistral = get_preset("mistral-7b")  # 4096-token window, 8 kv heads
    assert kv_cache_bytes(mistral, 32768, 1) == kv_cache_bytes(mistral, 4096, 1) == 2 * 32 * 8 * 128 * 4096 * 2
    no_window = mistral.model_copy(update={"sliding_window": None})
    assert kv_cache_bytes(no_window, 32768, 1) == 8 * kv_cache_bytes(mistral, 32768, 1)
    assert "sliding window" in " ".join(inference_memory(mistral, seq_len=32768).assumptions)


def test_an_80_gb_card_holds_80_gib_and_fits_checks_add_the_runtime():
    # nvidia-smi reports 81,920 MiB on an A100 80GB: "80 GB" on HBM parts is 80 GiB = 85.9e9 bytes.
    assert 80 * GIB == pytest.approx(85.9e9, rel=1e-3)
    # one rule for every fits check: + 7% allocator overhead + 0.5 GiB CUDA context (+ 0.5 GiB NCCL if distributed)
    assert fits_on(79.0, 80)  # 79e9 x 1.07 + 1.07e9 = 85.6e9 <= 85.9e9
    assert not fits_on(80.0, 80)  # 80e9 x 1.07 + 1.07e9 = 86.7e9 > 85.9e9
    assert fits_on(79.7, 80, distributed=False)  # one GPU, no NCCL: 79.7e9 x 1.07 + 0.54e9 = 85.8e9
    assert not fits_on(79.7, 80)  # the same tensors with NCCL buffers: 86.4e9
    assert usable_gb(80) == pytest.approx((80 * GIB - GIB) / 1.07 / 1e9)
    mem = training_memory(get_preset("llama-2-7b"), 2048, 1, gpus=8, sharding="zero3")
    assert mem.peak_gb == pytest.approx(mem.total_gb * 1.07 + GIB / 1e9)
