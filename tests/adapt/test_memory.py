"""Issue 12, adaptation memory: every published measurement in data/adapt_memory_measurements.csv within a
stated tolerance (held-out runs were never used to choose a constant), and the root causes fixed one by one:
checkpointed adapter inputs, autocast copies, the optimizer step's peak, GiB capacities."""
import pytest

from planner.adapt.estimate import AdaptRequest, device_bytes, estimate, fits
from planner.adapt.methods.base import autocast_layer_bytes, linear_modules
from planner.adapt.validation import validate_memory
from planner.core.architecture import get_preset
from planner.core.hardware import get_accelerator

# achieved (benchmarks/RESULTS.md, ADAPT section): held-out mean 4.2%, worst 15.3% (bert-large fp16 amp, batch 4,
# from nvidia-smi on a V100: allocator cache included); calibration mean 3.3%, worst 6.2%. Issue 12's goal for
# held-out runs: worst 20%, mean 10%.
HELD_OUT_WORST, HELD_OUT_MEAN, CALIBRATION_WORST = 0.20, 0.08, 0.07


def test_every_published_run_is_within_tolerance():
    v = validate_memory()
    assert v.held_out.runs >= 19 and v.calibration.runs >= 9
    for check in v.checks:
        limit = HELD_OUT_WORST if check.split == "held-out" else CALIBRATION_WORST
        assert abs(check.error) < limit, (check.id, check.estimated_gb, check.measured_gb)
    assert v.held_out.mean_abs_error < HELD_OUT_MEAN
    assert v.calibration.mean_abs_error < 0.04


def test_fms_mistral_lora_by_hand():
    """fms-acceleration's Mistral-7B LoRA run (r16 q/k/v/o, batch 4 x 4096, fp16, checkpointing, flash):
    26.11 GB allocated. By hand: fp16 weights 2 x 7.24B = 14.48 GB; adapters, grads and AdamW in fp32
    (16 bytes x 13.6M = 0.22 GB); activations = 32 checkpoints of 2 x 16384 x 4096 (4.29 GB) + final-norm
    and head inputs (0.27 GB) + the loss's 14 bytes per logit x 16384 x 32000 (7.34 GB), larger than one
    recomputed block."""
    e = estimate("mistral-7b", AdaptRequest(method="lora", rank=16, micro_batch=4, seq_len=4096,
                                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                            gradient_checkpointing=True, attention="flash"))
    tokens = 4 * 4096
    by_hand = (2 * 7.2417e9 + 16 * 13.63e6 + 32 * 2 * tokens * 4096 + 4 * tokens * 4096 + 14 * tokens * 32000) / 1e9
    assert e.memory_gb == pytest.approx(by_hand, rel=0.01)
    assert e.memory_gb == pytest.approx(26.11, rel=0.05)


def test_checkpointing_keeps_one_layer_of_adapter_inputs():
    """The issue's case: llama-2-7b LoRA, batch 4, seq 2048, checkpointing, measured 17.7 GiB (the old
    estimate counted every layer's fp32 LoRA inputs: 27.3 GiB)."""
    e = estimate("llama-2-7b", AdaptRequest(method="lora", micro_batch=4, seq_len=2048, gradient_checkpointing=True))
    assert e.memory_gb * 1e9 / 2**30 == pytest.approx(17.7, rel=0.05)
    more_layers = get_preset("llama-2-7b").model_copy(update={"n_layers": 64})
    deeper = estimate(more_layers, AdaptRequest(method="lora", micro_batch=4, seq_len=2048,
                                                gradient_checkpointing=True))
    plain = estimate(more_layers, AdaptRequest(method="lora", micro_batch=4, seq_len=2048))
    kept = (64 - 32) * 2 * 4 * 2048 * 4096  # 32 more checkpoints; the adapters' inputs do not grow
    assert deeper.memory.activations_gb - e.memory.activations_gb == pytest.approx(kept / 1e9, rel=0.01)
    assert plain.memory.activations_gb > 2 * deeper.memory.activations_gb


def test_amp_counts_autocast_copies_and_fp32_residuals():
    """fp32 weights under bf16 autocast: a bf16 copy of every matmul weight (and the head) is alive until the
    backward pass, and the residual stream's norm inputs are fp32."""
    cfg = get_preset("gpt2")
    req = dict(method="full", micro_batch=8, seq_len=512)
    amp = estimate("gpt2", AdaptRequest(precision="amp", **req))
    fp32 = estimate("gpt2", AdaptRequest(precision="fp32", **req))
    linears = sum(m.d_in * m.d_out * m.count for m in linear_modules(cfg)) + cfg.vocab_size * cfg.d_model
    residual = 4 * cfg.n_layers * 8 * 512 * cfg.d_model
    bf16_body = estimate("gpt2", AdaptRequest(precision="bf16", **req)).memory.activations_gb
    assert amp.memory.activations_gb == pytest.approx(bf16_body + (2 * linears + residual) / 1e9, rel=1e-6)
    assert amp.memory.weights_gb == fp32.memory.weights_gb and amp.memory_gb < fp32.memory_gb


def test_full_fine_tuning_peak_can_be_the_optimizer_step():
    """With short activations the AdamW step is the peak: foreach AdamW's temporary per trained tensor, while
    weights, grads and states are alive (fms-acceleration: 72.97 GB at batch 4 and 8 alike)."""
    small = estimate("mistral-7b", AdaptRequest(method="full", micro_batch=1, seq_len=256,
                                                gradient_checkpointing=True))
    assert small.memory.activations_gb == pytest.approx(small.memory.weights_gb)  # 2 bytes x N temporary


def test_fits_compares_bytes_with_the_cards_gib():
    h100 = get_accelerator("H100")
    assert h100.memory_bytes == 80 * 2**30
    assert device_bytes(79.0) == pytest.approx(79e9 * 1.07 + 0.5 * 2**30)
    assert fits(79.7, h100)          # 79.7e9 x 1.07 + 0.54e9 = 85.8e9 < 85.9e9 bytes (80 GiB)
    assert not fits(79.9, h100)
    assert not fits(81.0, h100)      # more than the card even before any overhead


def test_autocast_casts_each_projection_input_by_hand():
    """Under amp every projection that reads an fp32 norm output saves its own 16-bit copy (autocast caches only
    weight casts): Llama's q, k, v and gate, up keep 3 + 2 copies where the 16-bit count has 1 + 1, so 3 extra
    x 2 bytes per token and width; GPT-2's fused c_attn and c_fc none. Nothing extra without autocast."""
    amp = AdaptRequest(precision="amp", micro_batch=2, seq_len=1024)
    assert autocast_layer_bytes(get_preset("llama-2-7b"), amp, 1024) == 3 * 2 * 2 * 1024 * 4096
    assert autocast_layer_bytes(get_preset("gpt2"), amp, 1024) == 0
    assert autocast_layer_bytes(get_preset("llama-2-7b"), amp.model_copy(update={"precision": "bf16"}), 1024) == 0
    # eager attention with dropout: the fp32 softmax output adds 2 bytes per score (12 heads x 1024^2 x 2)
    eager = amp.model_copy(update={"attention": "eager"})
    assert autocast_layer_bytes(get_preset("gpt2"), eager, 1024) == 2 * 12 * 1024 * 1024 * 2


def test_a_classifier_head_has_no_vocabulary_logits():
    lm = AdaptRequest(method="full", micro_batch=4, seq_len=512, precision="fp32")
    cls = lm.model_copy(update={"head": "classifier"})
    gap = estimate("gpt2", lm).memory.activations_gb - estimate("gpt2", cls).memory.activations_gb
    assert gap * 1e9 == pytest.approx(14 * 4 * 512 * 50257)  # the loss's 14 bytes per logit
