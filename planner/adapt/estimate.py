"""What adapting a base model costs, per method: trainable parameters, memory per GPU, FLOPs per token,
GPU-hours and dollars, and whether it fits on one GPU.

Every method is one small class with the same interface (like peft's `tuners/<method>/`): how many
parameters it trains, how many bytes its weights and training state take, and what a token costs. The
base-model formulas (parameter counts, FLOPs per token, activation memory) come from
`planner.core.architecture` and `planner.core.memory`; budget conversions from `planner.core.budget`. This module only
adds what is specific to adaptation: which parameters train, in which dtype, and what frozen weights save.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planner.core.architecture import ModelConfig
from planner.errors import PlannerError

GB = 1e9
METHOD_NAMES = ["full", "lora", "qlora", "prompt", "prefix", "ia3", "bitfit", "linear-probe", "zero-shot"]

Precision = Literal["bf16", "mixed", "amp", "fp32"]
Attention = Literal["sdpa", "flash", "eager"]

# Precision: "bf16" = weights, grads and AdamW states all in bf16 (peft's method comparison runs this way:
# `dtype: bfloat16`, `use_amp: false`); "mixed" = bf16 weights + fp32 master copy and Adam states (16 bytes
# per trained parameter, Rajbhandari et al. 2020); "amp" = fp32 weights, grads and Adam states with bf16
# autocast activations (planner/train/loop.py on CUDA); "fp32" = everything fp32 (CPU runs).
PRECISION_NOTES = {"bf16": "bf16 weights, grads and AdamW states", "mixed": "bf16 weights, fp32 master + Adam",
                   "amp": "fp32 weights and AdamW states, bf16 autocast activations",
                   "fp32": "fp32 weights, AdamW states and activations"}
# QLoRA stores the base linear layers in NF4 with double quantisation: 4.127 bits per parameter
# (Dettmers et al. 2023, "QLoRA", section 3); embeddings, norms and the output head stay in bf16.
NF4_BYTES_PER_PARAM = 4.127 / 8

# The loss is counted as transformers runs it (memory.HF_LOSS_BYTES_PER_LOGIT, not the fused 4 bytes): with
# that and each adapter's own saved inputs (`adapter_activation_bytes`) the estimate is within 7% of every run
# in peft's Llama-3.2-3B comparison we can map to a method (benchmarks/bench_adaptation.py), no fitted constant.

# peft's defaults (peft/utils/constants.py, TRANSFORMERS_MODELS_TO_*_TARGET_MODULES_MAPPING), per family.
LORA_DEFAULT_TARGETS = {"gpt2": ["c_attn"], "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"],
                        "mixtral": ["q_proj", "v_proj"]}
IA3_DEFAULT_TARGETS = {"gpt2": ["c_attn", "mlp.c_proj"], "llama": ["k_proj", "v_proj", "down_proj"],
                       "mistral": ["k_proj", "v_proj", "down_proj"], "mixtral": ["k_proj", "v_proj"]}
IA3_FEEDFORWARD = {"gpt2": ["mlp.c_proj"], "llama": ["down_proj"], "mistral": ["down_proj"], "mixtral": []}


class AdaptRequest(BaseModel):
    """One adaptation to estimate: the base model, the method and the knobs a real run has."""

    method: str = Field("lora", description=f"one of {', '.join(METHOD_NAMES)}")
    rank: int = Field(8, description="LoRA/QLoRA rank r (peft default 8)")
    alpha: float = Field(8.0, description="LoRA alpha; scales the update by alpha/r, costs nothing")
    target_modules: list[str] | None = Field(None, description="LoRA targets; None = peft's defaults")
    virtual_tokens: int = Field(20, description="prompt/prefix tuning: learned virtual tokens")
    micro_batch: int = Field(4, description="sequences per GPU per step")
    seq_len: int = Field(2048, description="tokens per sequence")
    precision: Precision = Field("bf16", description="bf16 weights+states, mixed (fp32 master), amp or fp32")
    gradient_checkpointing: bool = Field(False, description="recompute each layer in backward")
    attention: Attention = Field("sdpa", description="attention kernel; eager keeps the s^2 scores")
    dataset_tokens: float = Field(1e8, description="training tokens per epoch")
    epochs: float = Field(1.0, description="passes over the dataset")
    accelerator: str = Field("H100-SXM", description="GPU for time, cost and the fit check")
    mfu: float = Field(0.35, description="model FLOPs utilisation assumed for the time estimate")


class MemoryBreakdown(BaseModel):
    weights_gb: float = Field(description="base weights (frozen and trained) in their storage dtype")
    adapter_gb: float = Field(description="new adapter weights (fp32)")
    grads_gb: float = Field(description="gradients of trained parameters only")
    optimizer_gb: float = Field(description="AdamW moments (and fp32 master) of trained parameters only")
    activations_gb: float = Field(description="saved activations + logits for one micro-batch")
    total_gb: float


class AdaptEstimate(BaseModel):
    """Estimated cost of one method on one base model; `assumptions` says what was assumed."""

    method: str
    model: str
    trainable_params: int
    total_params: int
    trainable_percent: float
    memory_gb: float = Field(description="peak memory per GPU, 1e9 bytes")
    memory: MemoryBreakdown
    flops_per_token: float = Field(description="training FLOPs per dataset token (zero-shot: inference)")
    train_flops: float
    gpu_hours: float = Field(description="compute time at the MFU plus the optimizer steps")
    optimizer_gpu_hours: float = Field(description="part of gpu_hours spent in bandwidth-bound AdamW steps")
    usd: float
    accelerator: str
    accelerator_memory_gb: float
    fits_one_gpu: bool
    advice: str = ""
    assumptions: list[str]


class LinearShape(BaseModel):
    """One kind of linear layer in a block (`count` copies in the whole model)."""

    name: str
    d_in: int
    d_out: int
    count: int
    bias: bool


def linear_modules(cfg: ModelConfig) -> list[LinearShape]:
    """The block linear layers as transformers names them (module names relative to a block)."""
    d, hd, L = cfg.d_model, cfg.head_dim, cfg.n_layers
    q, kv = cfg.n_heads * hd, cfg.kv_heads * hd
    if cfg.family == "gpt2":
        return [LinearShape(name="attn.c_attn", d_in=d, d_out=3 * d, count=L, bias=True),
                LinearShape(name="attn.c_proj", d_in=d, d_out=d, count=L, bias=True),
                LinearShape(name="mlp.c_fc", d_in=d, d_out=cfg.d_ff, count=L, bias=True),
                LinearShape(name="mlp.c_proj", d_in=cfg.d_ff, d_out=d, count=L, bias=True)]
    attn = [LinearShape(name="self_attn.q_proj", d_in=d, d_out=q, count=L, bias=False),
            LinearShape(name="self_attn.k_proj", d_in=d, d_out=kv, count=L, bias=False),
            LinearShape(name="self_attn.v_proj", d_in=d, d_out=kv, count=L, bias=False),
            LinearShape(name="self_attn.o_proj", d_in=q, d_out=d, count=L, bias=False)]
    if cfg.family == "mixtral":
        # transformers stores the experts as fused 3-D tensors (not nn.Linear): only the router is a
        # Linear, so LoRA/IA3 can target attention and the router, not the experts.
        return attn + [LinearShape(name="mlp.gate", d_in=d, d_out=cfg.n_experts, count=L, bias=False)]
    return attn + [LinearShape(name="mlp.gate_proj", d_in=d, d_out=cfg.d_ff, count=L, bias=False),
                   LinearShape(name="mlp.up_proj", d_in=d, d_out=cfg.d_ff, count=L, bias=False),
                   LinearShape(name="mlp.down_proj", d_in=cfg.d_ff, d_out=d, count=L, bias=False)]


def select_linears(cfg: ModelConfig, targets: list[str]) -> list[LinearShape]:
    """peft's matching: a target names a module if the module's name is it or ends with `.target`."""
    if targets == ["all-linear"]:
        return linear_modules(cfg)
    chosen = [m for m in linear_modules(cfg) if any(m.name == t or m.name.endswith("." + t) for t in targets)]
    missing = [t for t in targets if not any(m.name == t or m.name.endswith("." + t) for m in chosen)]
    if missing:
        names = ", ".join(m.name.split(".")[-1] for m in linear_modules(cfg))
        raise PlannerError(f"target module(s) {', '.join(missing)} not found in a {cfg.family} model; "
                           f"choose from {names} or all-linear")
    return chosen


def norm_params(cfg: ModelConfig) -> int:
    """Parameters of the normalisation layers: RMSNorm has a weight, LayerNorm a weight and a bias."""
    per_norm = 2 * cfg.d_model if cfg.family == "gpt2" else cfg.d_model
    return (2 * cfg.n_layers + 1) * per_norm


def bias_params(cfg: ModelConfig) -> int:
    return sum(m.d_out * m.count for m in linear_modules(cfg) if m.bias)


# ---------------------------------------------------------------------------------------------- methods
class AdaptMethod:
    """Interface of one adaptation method. Subclasses override what differs from full fine-tuning."""

    name = ""
    label = ""
    summary = ""
    trains_base = True       # trained parameters are base weights (in the weights dtype), not new adapters
    backprop_body = True     # gradients flow back through the whole frozen body
    peft = False             # implemented with peft in measured runs (else plain torch)

    def trainable_params(self, cfg: ModelConfig, req: AdaptRequest) -> int:
        raise NotImplementedError

    def quantised_params(self, cfg: ModelConfig) -> int:
        """Base parameters stored in 4-bit (QLoRA only)."""
        return 0

    def extra_seq_tokens(self, req: AdaptRequest) -> int:
        """Virtual tokens the model processes on top of each sequence."""
        return 0

    def adapter_activation_bytes(self, cfg: ModelConfig, req: AdaptRequest, act_bytes: float) -> float:
        """Activations the adapter itself saves for its backward pass, per micro-batch."""
        return 0.0

    def validate(self, cfg: ModelConfig, req: AdaptRequest) -> None:
        return None

    def peft_config(self, cfg: ModelConfig, req: AdaptRequest):
        """The peft config a measured run applies (None: plain torch, see planner/adapt/measure.py)."""
        return None


class FullFineTuning(AdaptMethod):
    name, label = "full", "Full fine-tuning"
    summary = "every weight trains: 6N FLOPs per token, weights + grads + AdamW states for all N"

    def trainable_params(self, cfg, req):
        from planner.core.architecture import param_counts
        return param_counts(cfg).total


class LoRA(AdaptMethod):
    name, label = "lora", "LoRA"
    summary = "frozen base + low-rank A·B on target linears: r(d_in + d_out) per target"
    trains_base, peft = False, True

    def targets(self, cfg, req) -> list[str]:
        return req.target_modules or LORA_DEFAULT_TARGETS[cfg.family]

    def trainable_params(self, cfg, req):
        return sum(req.rank * (m.d_in + m.d_out) * m.count for m in select_linears(cfg, self.targets(cfg, req)))

    def validate(self, cfg, req):
        if req.rank < 1:
            raise PlannerError(f"LoRA rank must be at least 1 (got {req.rank}); typical ranks are 8 to 64")
        select_linears(cfg, self.targets(cfg, req))

    def adapter_activation_bytes(self, cfg, req, act_bytes):
        # lora_A needs its input for its weight gradient, and peft casts that input to the adapter's
        # fp32 dtype: one fp32 copy of every target's input (frozen base layers keep none).
        tokens = req.seq_len * req.micro_batch
        return sum(4 * tokens * m.d_in * m.count for m in select_linears(cfg, self.targets(cfg, req)))

    def peft_config(self, cfg, req):
        from peft import LoraConfig, TaskType
        targets = self.targets(cfg, req)
        return LoraConfig(task_type=TaskType.CAUSAL_LM, r=req.rank, lora_alpha=req.alpha, lora_dropout=0.0,
                          target_modules="all-linear" if targets == ["all-linear"] else targets)


class QLoRA(LoRA):
    name, label = "qlora", "QLoRA (4-bit base)"
    summary = "LoRA on a base whose block linears are stored in 4-bit NF4 (needs CUDA + bitsandbytes)"

    def quantised_params(self, cfg):
        return sum(m.d_in * m.d_out * m.count for m in linear_modules(cfg)) + _expert_params(cfg)


class PromptTuning(AdaptMethod):
    name, label = "prompt", "Prompt tuning"
    summary = "learned virtual input embeddings; every sequence gets longer by the virtual tokens"
    trains_base, peft = False, True

    def trainable_params(self, cfg, req):
        return req.virtual_tokens * cfg.d_model

    def extra_seq_tokens(self, req):
        return req.virtual_tokens

    def validate(self, cfg, req):
        if req.virtual_tokens < 1:
            raise PlannerError(f"{self.label} needs at least 1 virtual token (got {req.virtual_tokens})")

    def peft_config(self, cfg, req):
        from peft import PromptTuningConfig, TaskType
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=req.virtual_tokens)


class PrefixTuning(PromptTuning):
    name, label = "prefix", "Prefix tuning"
    summary = "learned keys and values prepended in every layer (sized by the KV heads)"

    def trainable_params(self, cfg, req):
        return req.virtual_tokens * cfg.n_layers * 2 * cfg.kv_heads * cfg.head_dim

    def extra_seq_tokens(self, req):
        return 0  # prefixes lengthen only the attended keys; handled in the attention term

    def peft_config(self, cfg, req):
        from peft import PrefixTuningConfig, TaskType
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=req.virtual_tokens)


class IA3(AdaptMethod):
    name, label = "ia3", "IA3"
    summary = "learned vectors rescaling keys, values and the MLP input (peft's default targets)"
    trains_base, peft = False, True

    def trainable_params(self, cfg, req):
        ff = IA3_FEEDFORWARD[cfg.family]
        total = 0
        for m in select_linears(cfg, IA3_DEFAULT_TARGETS[cfg.family]):
            feedforward = any(m.name == t or m.name.endswith("." + t) for t in ff)
            total += (m.d_in if feedforward else m.d_out) * m.count
        return total

    def adapter_activation_bytes(self, cfg, req, act_bytes):
        # the learned vector's gradient needs what it multiplies: the input of feed-forward targets,
        # the output of the others
        tokens = req.seq_len * req.micro_batch
        ff = IA3_FEEDFORWARD[cfg.family]
        return sum(act_bytes * tokens * (m.d_in if any(m.name.endswith(t) for t in ff) else m.d_out) * m.count
                   for m in select_linears(cfg, IA3_DEFAULT_TARGETS[cfg.family]))

    def peft_config(self, cfg, req):
        from peft import IA3Config, TaskType
        return IA3Config(task_type=TaskType.CAUSAL_LM)


class BitFit(AdaptMethod):
    name, label = "bitfit", "BitFit / LayerNorm tuning"
    summary = "only biases and normalisation weights train (Llama has no biases: LayerNorm tuning)"

    def trainable_params(self, cfg, req):
        return bias_params(cfg) + norm_params(cfg)


class LinearProbe(AdaptMethod):
    name, label = "linear-probe", "Linear probe"
    summary = "frozen body, only the output head trains: no backward pass through the body"
    backprop_body = False

    def trainable_params(self, cfg, req):
        return cfg.vocab_size * cfg.d_model


class ZeroShot(AdaptMethod):
    name, label = "zero-shot", "Zero-shot / in-context"
    summary = "no training: the base model as is, prompted (cost = inference over the data)"
    backprop_body = False

    def trainable_params(self, cfg, req):
        return 0


METHODS: dict[str, AdaptMethod] = {m.name: m for m in (FullFineTuning(), LoRA(), QLoRA(), PromptTuning(),
                                                        PrefixTuning(), IA3(), BitFit(), LinearProbe(),
                                                        ZeroShot())}


def get_method(name: str) -> AdaptMethod:
    if name not in METHODS:
        raise PlannerError(f"unknown adaptation method '{name}'; choose one of {', '.join(METHOD_NAMES)}")
    return METHODS[name]


def _expert_params(cfg: ModelConfig) -> int:
    """MoE expert weights (3 matrices d x d_ff per expert per layer), not listed as nn.Linear."""
    return 3 * cfg.d_model * cfg.d_ff * cfg.n_experts * cfg.n_layers if cfg.family == "mixtral" else 0


# ---------------------------------------------------------------------------------------------- estimate


def resolve_model(model: str | ModelConfig) -> ModelConfig:
    """An architecture preset, or a model-table entry (data/models.csv), as a ModelConfig.

    A table entry whose name is a preset ("Llama-2-70B") uses that preset's exact shape; any other entry
    gets the conventional Llama-style shape with its parameter count (`suggest_shape`), named after it."""
    if isinstance(model, ModelConfig):
        return model
    from planner.core.architecture import PRESETS, suggest_shape
    from planner.catalog import catalog

    key = model.strip().lower().replace(" ", "-")
    if key in PRESETS:
        return PRESETS[key]
    entries = {m.name.lower().replace(" ", "-"): m for m in catalog()}
    if key in entries:
        entry = entries[key]
        shape = suggest_shape(entry.params, family="llama")
        return shape.model_copy(update={"name": f"{entry.name} (shape suggested for {entry.params:.3g} params)"})
    raise PlannerError(f"unknown model preset '{model}'; choose a preset ({', '.join(PRESETS)}) "
                       f"or a model-table entry ({', '.join(m.name for m in catalog())})")


def _validate_shared(req: AdaptRequest) -> None:
    """The knobs every method uses: a bad one concerns them all."""
    from planner.core.budget import check_mfu
    from planner.core.hardware import get_accelerator

    for field, value in (("micro_batch", req.micro_batch), ("seq_len", req.seq_len)):
        if value < 1:
            raise PlannerError(f"{field} must be at least 1 (got {value})")
    if req.dataset_tokens <= 0 or req.epochs <= 0:
        raise PlannerError("dataset_tokens and epochs must be positive")
    check_mfu(req.mfu)
    get_accelerator(req.accelerator)


def _validate(cfg: ModelConfig, req: AdaptRequest, method: AdaptMethod) -> None:
    _validate_shared(req)
    method.validate(cfg, req)


def trainable_params(model: str | ModelConfig, req: AdaptRequest) -> int:
    cfg, method = resolve_model(model), get_method(req.method)
    method.validate(cfg, req)
    return method.trainable_params(cfg, req)


def _trained_state_bytes(precision: str) -> tuple[float, float, float]:
    """(weight, grad, optimizer) bytes per trained base parameter: memory.OPTIMIZER_BYTES for bf16 and
    mixed precision; plain fp32 AdamW (4 + 4 + 2·4) for CPU runs."""
    from planner.core.memory import DTYPE_BYTES, OPTIMIZER_BYTES

    if precision in ("fp32", "amp"):
        return DTYPE_BYTES["fp32"], DTYPE_BYTES["fp32"], 2 * DTYPE_BYTES["fp32"]
    return OPTIMIZER_BYTES["adamw-bf16" if precision == "bf16" else "adam-mixed"]


def _activations(cfg: ModelConfig, req: AdaptRequest, method: AdaptMethod) -> float:
    """Activation bytes of one micro-batch: memory.activation_bytes for the blocks, the loss's logits as
    transformers computes them, and what the adapter saves; a linear probe keeps only the head's input
    and the loss."""
    from planner.core.memory import ACTIVATION_BYTES, HF_LOSS_BYTES_PER_LOGIT, activation_bytes

    seq = req.seq_len + method.extra_seq_tokens(req)
    logits = seq * req.micro_batch * cfg.vocab_size
    act_bytes = 4 if req.precision == "fp32" else ACTIVATION_BYTES  # no autocast: fp32 activations
    if not method.backprop_body:
        return HF_LOSS_BYTES_PER_LOGIT * logits + act_bytes * seq * req.micro_batch * cfg.d_model
    recompute = "full" if req.gradient_checkpointing else "none"
    body = activation_bytes(cfg, seq, req.micro_batch, recompute=recompute, attention=req.attention, logit_bytes=0)
    adapter = method.adapter_activation_bytes(cfg, req, act_bytes)
    # the blocks scale with the activation dtype; the loss's logits do not
    return body * act_bytes / ACTIVATION_BYTES + HF_LOSS_BYTES_PER_LOGIT * logits + adapter


def _memory(cfg: ModelConfig, req: AdaptRequest, method: AdaptMethod, trainable: int) -> MemoryBreakdown:
    from planner.core.architecture import param_counts
    from planner.core.memory import DTYPE_BYTES, inference_memory

    if method.name == "zero-shot":
        inf = inference_memory(cfg, weights_dtype="fp32" if req.precision in ("fp32", "amp") else "bf16",
                               batch=req.micro_batch, seq_len=req.seq_len)
        return MemoryBreakdown(weights_gb=inf.weights_gb, adapter_gb=0, grads_gb=0, optimizer_gb=0,
                               activations_gb=inf.kv_cache_gb, total_gb=inf.total_gb)
    w, g, o = _trained_state_bytes(req.precision)
    quantised = method.quantised_params(cfg)
    extra_head = cfg.vocab_size * cfg.d_model if method.name == "linear-probe" and cfg.tie_embeddings else 0
    weights = (param_counts(cfg).total - quantised + extra_head) * w + quantised * NF4_BYTES_PER_PARAM
    base_trained = trainable if method.trains_base else 0
    adapter = 0 if method.trains_base else trainable
    aw = ag = DTYPE_BYTES["fp32"]  # peft keeps adapters in fp32 (autocast_adapter_dtype=True)
    ao = 2 * aw                    # AdamW m and v in the parameter's dtype
    activations = _activations(cfg, req, method)
    if quantised:  # one linear layer dequantised to bf16 at a time
        activations += DTYPE_BYTES["bf16"] * max(m.d_in * m.d_out for m in linear_modules(cfg))
    parts = dict(weights_gb=weights / GB, adapter_gb=adapter * aw / GB,
                 grads_gb=(base_trained * g + adapter * ag) / GB,
                 optimizer_gb=(base_trained * o + adapter * ao) / GB, activations_gb=activations / GB)
    return MemoryBreakdown(**parts, total_gb=sum(parts.values()))


def _flops_per_token(cfg: ModelConfig, req: AdaptRequest, method: AdaptMethod, trainable: int) -> float:
    """Training FLOPs per dataset token. Full fine-tuning: 6N + attention. Frozen weights need no weight
    gradients, so methods that backpropagate through the body pay forward 2N + input-gradient 2N = 4N
    (plus 6 FLOPs per LoRA parameter); a linear probe pays a forward pass and the head's weight gradient."""
    from planner.core.architecture import flops_per_token

    extra = method.extra_seq_tokens(req)
    keys = req.seq_len + (req.virtual_tokens if method.name in ("prompt", "prefix") else 0)
    train = flops_per_token(cfg, seq_len=keys, training=True)
    forward = train.total / 3
    if method.name == "zero-shot":
        return forward
    if method.name == "linear-probe":
        return forward + 2 * cfg.vocab_size * cfg.d_model
    if method.name == "full":
        per_token = train.total
    else:
        per_token = train.dense * 2 / 3 + train.attention
        if isinstance(method, LoRA):
            per_token += 6 * trainable
    if req.gradient_checkpointing:
        per_token += forward  # one extra forward of every layer in the backward pass
    return per_token * (req.seq_len + extra) / req.seq_len  # virtual tokens are paid per real token


def _optimizer_gpu_hours(req: AdaptRequest, method: AdaptMethod, trainable: int, accel) -> float:
    """AdamW steps are bandwidth-bound, not FLOP-bound: each step reads weight, gradient and both moments
    and writes weight and moments of every trained parameter. Negligible for adapters; for full fine-tuning
    with short sequences it is a real share of the time (peft's full FT run took 2.28x LoRA's time where
    FLOPs alone predict 1.47x). One optimizer step per micro-batch (no gradient accumulation)."""
    if method.name == "zero-shot" or trainable == 0:
        return 0.0
    w, g, o = _trained_state_bytes(req.precision) if method.trains_base else (4, 4, 8)
    steps = req.dataset_tokens * req.epochs / (req.micro_batch * req.seq_len)
    bytes_per_step = trainable * ((w + g + o) + (w + o))  # read all three, write weight and moments
    return steps * bytes_per_step / (accel.bandwidth_tbs * 1e12) / 3600


def _advice(cfg: ModelConfig, method: AdaptMethod, memory_gb: float, gpu_gb: float, accel: str) -> str:
    if memory_gb <= gpu_gb:
        return ""
    return (f"{method.label} of {cfg.name} needs {memory_gb:.1f} GB per GPU, more than one {accel} "
            f"({gpu_gb:.0f} GB): use QLoRA or LoRA, gradient checkpointing, a smaller micro-batch or "
            "shorter sequences, or shard over several GPUs")


def estimate(model: str | ModelConfig, req: AdaptRequest) -> AdaptEstimate:
    """Trainable parameters, peak memory per GPU, FLOPs, GPU-hours and dollars of one method."""
    from planner.core.architecture import param_counts
    from planner.core.budget import flops_to_gpu_hours, gpu_hours_to_usd
    from planner.core.hardware import get_accelerator

    cfg, method = resolve_model(model), get_method(req.method)
    _validate(cfg, req, method)
    accel = get_accelerator(req.accelerator)
    trainable = method.trainable_params(cfg, req)
    total = param_counts(cfg).total + (0 if method.trains_base else trainable)
    memory = _memory(cfg, req, method, trainable)
    per_token = _flops_per_token(cfg, req, method, trainable)
    train_flops = 0.0 if method.name == "zero-shot" else per_token * req.dataset_tokens * req.epochs
    optimizer_hours = _optimizer_gpu_hours(req, method, trainable, accel)
    gpu_hours = (flops_to_gpu_hours(train_flops, accel, req.mfu) if train_flops else 0.0) + optimizer_hours
    return AdaptEstimate(
        method=method.name, model=cfg.name, trainable_params=trainable, total_params=total,
        trainable_percent=100 * trainable / total, memory_gb=memory.total_gb, memory=memory,
        flops_per_token=per_token, train_flops=train_flops, gpu_hours=gpu_hours,
        optimizer_gpu_hours=optimizer_hours,
        usd=gpu_hours_to_usd(gpu_hours, accel), accelerator=accel.name, accelerator_memory_gb=accel.memory_gb,
        fits_one_gpu=memory.total_gb <= accel.memory_gb,
        advice=_advice(cfg, method, memory.total_gb, accel.memory_gb, accel.name),
        assumptions=_assumptions(cfg, req, method))


def _assumptions(cfg: ModelConfig, req: AdaptRequest, method: AdaptMethod) -> list[str]:
    notes = [f"precision {req.precision}: {PRECISION_NOTES[req.precision]}",
             f"attention kernel {req.attention}",
             "gradient checkpointing on (one extra forward)" if req.gradient_checkpointing
             else "no gradient checkpointing",
             f"micro-batch {req.micro_batch} x {req.seq_len} tokens, {req.mfu:.0%} MFU on {req.accelerator}",
             "one AdamW step per micro-batch, bandwidth-bound (counted in GPU-hours)"]
    if isinstance(method, LoRA):
        notes.append(f"rank {req.rank}, alpha {req.alpha:g}, targets {', '.join(method.targets(cfg, req))}"
                     + (" (peft default)" if req.target_modules is None else ""))
    if not method.trains_base and method.name != "zero-shot":
        notes.append("adapter weights, grads and AdamW states in fp32 (peft autocast_adapter_dtype)")
    if method.name == "qlora":
        notes.append("block linears in NF4 with double quantisation (4.127 bits/param); needs CUDA + "
                     "bitsandbytes; dequantisation makes it slower than LoRA at equal FLOPs")
    if method.name in ("prompt", "prefix"):
        notes.append(f"{req.virtual_tokens} virtual tokens")
    if method.name == "zero-shot":
        notes.append("no training; FLOPs per token = one forward pass (evaluation / serving)")
    return notes


def estimate_all(model: str | ModelConfig, req: AdaptRequest,
                 methods: list[str] | None = None) -> list[AdaptEstimate]:
    """The same knobs for every method (each method ignores knobs that are not its own)."""
    return [estimate(model, req.model_copy(update={"method": name})) for name in methods or METHOD_NAMES]


def cheapest_fitting(estimates: list[AdaptEstimate]) -> AdaptEstimate | None:
    """The trainable method with the lowest dollar cost that fits on one GPU (None if none fits)."""
    fitting = [e for e in estimates if e.fits_one_gpu and e.method != "zero-shot"]
    return min(fitting, key=lambda e: (e.usd, e.memory_gb)) if fitting else None


class AdaptComparison(BaseModel):
    """Every method on one base model with the same knobs, and the cheapest trainable one that fits."""

    model: str
    accelerator: str
    estimates: list[AdaptEstimate]
    cheapest_fitting: str | None = Field(description="lowest-cost trained method that fits on one GPU")
    advice: str
    too_big: str = Field("", description="the methods that do not fit on one GPU, and what to try")
    invalid: dict[str, str] = Field(default_factory=dict,
                                    description="methods left out because one of their own knobs is invalid "
                                                "(e.g. LoRA rank 0), with the message")


def _estimate_each(cfg: ModelConfig, req: AdaptRequest,
                   methods: list[str]) -> tuple[list[AdaptEstimate], dict[str, str]]:
    """Every method that its own knobs allow; a knob only some methods use (rank, virtual tokens, LoRA
    targets) leaves the others standing, with the message for those it rules out."""
    estimates, invalid = [], {}
    for name in methods:
        try:
            estimates.append(estimate(cfg, req.model_copy(update={"method": name})))
        except PlannerError as err:
            invalid[name] = str(err)
    if not estimates:
        raise PlannerError("; ".join(dict.fromkeys(invalid.values())))
    return estimates, invalid


def compare(model: str | ModelConfig, req: AdaptRequest, methods: list[str] | None = None) -> AdaptComparison:
    """Every method (or `methods`) with the same knobs. Shared knobs (batch, sequence, MFU, accelerator)
    and unknown names raise; a method-specific bad knob only leaves that method out (`invalid`)."""
    cfg = resolve_model(model)
    methods = [get_method(name).name for name in methods or METHOD_NAMES]
    _validate_shared(req)
    estimates, invalid = _estimate_each(cfg, req, methods)
    best = cheapest_fitting(estimates)
    if best is None:
        advice = (f"no trained method fits on one {estimates[0].accelerator}: turn on gradient checkpointing, "
                  "shorten sequences, shard over several GPUs or pick a larger accelerator")
    else:
        advice = (f"cheapest method that fits on one {best.accelerator}: {get_method(best.method).label} "
                  f"({best.memory_gb:.1f} GB, {best.gpu_hours:.3g} GPU-hours, ${best.usd:,.0f})")
    big = [e for e in estimates if not e.fits_one_gpu]
    too_big = "" if not big else (
        f"more than one {big[0].accelerator} ({big[0].accelerator_memory_gb:.0f} GB): "
        + ", ".join(f"{get_method(e.method).label} {e.memory_gb:.0f} GB" for e in big)
        + ". Try QLoRA or LoRA, gradient checkpointing, a smaller micro-batch, shorter sequences, "
          "or sharding over several GPUs.")
    return AdaptComparison(model=estimates[0].model, accelerator=estimates[0].accelerator, estimates=estimates,
                           cheapest_fitting=best.method if best else None, advice=advice, too_big=too_big,
                           invalid=invalid)


def model_choices() -> list[str]:
    """Architecture presets first, then the model table's entries that are not presets."""
    from planner.core.architecture import PRESETS
    from planner.catalog import catalog

    keys = set(PRESETS)
    return list(PRESETS) + [m.name for m in catalog() if m.name.lower().replace(" ", "-") not in keys]


def target_choices(model: str | ModelConfig) -> list[str]:
    """LoRA target names for this model (as peft matches them), plus peft's all-linear."""
    return [m.name.split(".")[-1] if m.name.split(".")[-1] != "c_proj" else m.name
            for m in linear_modules(resolve_model(model))] + ["all-linear"]
