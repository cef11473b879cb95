"""The shape every adaptation method shares (like peft's `tuners/<method>/`): one class per method, one file
per class, listed in `planner.adapt.methods.REGISTRY`.

A method says what it trains (`trainable_params`), which knobs it reads and their limits (`Knobs`, checked in
`check`), what it stores (`weights_bytes`, `adapter_saved_per_layer`), what a token costs (`flops_per_token`),
its learning rate and colour, what it assumes (`notes`) and how it builds its trainable torch model (`build`).
Everything that is the same for all methods (the request, the block's linear layers, the one target-module
matcher) lives here too, so a method file imports only this module.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field, ValidationError

from planner.core import memory as core_memory
from planner.core.architecture import ModelConfig, flops_per_token, param_counts
from planner.core.budget import DEFAULT_ACCELERATOR, DEFAULT_MFU
from planner.core.memory import GB
from planner.errors import PlannerError

Precision = Literal["bf16", "mixed", "amp", "fp32"]
Attention = Literal["sdpa", "flash", "eager"]
Head = Literal["lm", "classifier"]


class AdaptRequest(BaseModel):
    """One adaptation to estimate: the base model, the method and the knobs a real run has. The
    method-specific knobs (rank, alpha, targets, virtual tokens) are checked by each method's `Knobs`."""

    method: str = Field("lora", description="an adaptation method (see planner.adapt.methods.method_names)")
    rank: int = Field(8, description="LoRA/QLoRA rank r (peft default 8)")
    alpha: float = Field(8.0, description="LoRA alpha; scales the update by alpha/r, costs nothing")
    target_modules: list[str] | None = Field(None, description="LoRA targets; None = peft's defaults")
    virtual_tokens: int = Field(20, description="prompt/prefix tuning: learned virtual tokens")
    micro_batch: int = Field(4, description="sequences per GPU per step")
    seq_len: int = Field(2048, description="tokens per sequence")
    precision: Precision = Field("bf16", description="bf16 weights+states, mixed (fp32 master), amp or fp32")
    gradient_checkpointing: bool = Field(False, description="recompute each layer in backward")
    attention: Attention = Field("sdpa", description="attention kernel; eager keeps the s^2 scores")
    head: Head = Field("lm", description="lm: a causal-LM loss over the vocabulary (logit buffers); classifier: "
                                         "a sequence-classification head (no vocabulary logits)")
    dataset_tokens: float = Field(1e8, description="training tokens per epoch")
    epochs: float = Field(1.0, description="passes over the dataset")
    accelerator: str = Field(DEFAULT_ACCELERATOR, description="GPU for time, cost and the fit check")
    mfu: float = Field(DEFAULT_MFU, description="model FLOPs utilisation assumed for the time estimate")
    options: dict = Field(default_factory=dict, description="knobs of methods added later (by field name of "
                                                            "their Knobs), so a new method needs no new field here")


class MemoryBreakdown(BaseModel):
    weights_gb: float = Field(description="base weights (frozen and trained) in their storage dtype")
    adapter_gb: float = Field(description="new adapter weights (fp32)")
    grads_gb: float = Field(description="gradients of trained parameters only")
    optimizer_gb: float = Field(description="AdamW moments (and fp32 master) of trained parameters only")
    activations_gb: float = Field(description="what the peak holds on top of weights, grads and optimizer states: "
                                              "saved activations, logits and loss buffers, autocast weight copies "
                                              "of one micro-batch, or the optimizer step's temporaries if larger")
    total_gb: float


def trained_state_bytes(precision: str) -> tuple[float, float, float]:
    """(weight, grad, optimizer) bytes per trained base parameter: memory.OPTIMIZER_BYTES for bf16 and
    mixed precision; plain fp32 AdamW (4 + 4 + 2·4) when the weights are fp32 (amp, fp32)."""
    if precision in ("fp32", "amp"):
        fp32 = core_memory.DTYPE_BYTES["fp32"]
        return fp32, fp32, 2 * fp32
    return core_memory.OPTIMIZER_BYTES["adamw-bf16" if precision == "bf16" else "adam-mixed"]


class NoKnobs(BaseModel):
    """A method that reads none of the method-specific knobs."""


# ---------------------------------------------------------------------------------------------- the block
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


def matches(module_name: str, target: str) -> bool:
    """peft's rule for a list of target names (peft/tuners/tuners_utils.py, `check_target_module_exists`):
    the full module name equals the target or ends with "." + target. A bare `endswith(target)` is wrong:
    "proj" would then pick every q/k/v/o projection, and "attn" would pick nothing peft picks."""
    return module_name == target or module_name.endswith("." + target)


def select_linears(cfg: ModelConfig, targets: list[str]) -> list[LinearShape]:
    """The block linears `targets` names (peft's matching); all-linear = every block linear."""
    if targets == ["all-linear"]:
        return linear_modules(cfg)
    chosen = [m for m in linear_modules(cfg) if any(matches(m.name, t) for t in targets)]
    missing = [t for t in targets if not any(matches(m.name, t) for m in chosen)]
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


def expert_weight_params(cfg: ModelConfig) -> int:
    """MoE expert matrices (3 of d x d_ff per expert per layer), stored as fused tensors, not nn.Linear."""
    return 3 * cfg.d_model * cfg.d_ff * cfg.n_experts * cfg.n_layers if cfg.family == "mixtral" else 0


def freeze_all(model) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def _knob_message(label: str, knobs: type[BaseModel], err: ValidationError) -> str:
    """'LoRA rank must be at least 1 (got 0)': the field's title, its limit and the value given."""
    first = err.errors()[0]
    field = knobs.model_fields.get(str(first["loc"][0])) if first["loc"] else None
    title = (field.title if field and field.title else str(first["loc"][0] if first["loc"] else label))
    ctx = first.get("ctx") or {}
    if first["type"] == "greater_than_equal" and ctx.get("ge") is not None:
        return f"{title} must be at least {ctx['ge']} (got {first['input']})"
    if first["type"] == "greater_than" and ctx.get("gt") is not None:
        return f"{title} must be above {ctx['gt']:g} (got {first['input']:g})"
    if first["type"] == "finite_number":
        return f"{title} must be a finite number (got {first['input']})"
    return f"{label}: {title}: {first['msg']}"


# ---------------------------------------------------------------------------------------------- a method
class AdaptMethod:
    """One adaptation method. The defaults describe a method whose gradients flow back through the whole
    frozen body into new fp32 adapter weights (peft's tuners); subclasses override what differs."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    colour: ClassVar[str] = "rgb(136, 136, 136)"
    learning_rate: ClassVar[float] = 1e-2  # peak LR of measured runs on the small bases (see measure.py)
    Knobs: ClassVar[type[BaseModel]] = NoKnobs
    trains_base: ClassVar[bool] = False    # trained parameters are base weights (their dtype), not adapters
    trains: ClassVar[bool] = True          # False: no optimizer at all (zero-shot)
    is_reference: ClassVar[bool] = False   # the method others' measured throughput is compared with

    # ---- knobs
    def knobs(self, req: AdaptRequest) -> BaseModel:
        """This method's knobs from the request, validated in one place (a bad one raises PlannerError)."""
        fields = set(self.Knobs.model_fields)
        values = {**req.model_dump(include=fields), **{k: v for k, v in req.options.items() if k in fields}}
        try:
            return self.Knobs.model_validate(values)
        except ValidationError as err:
            raise PlannerError(_knob_message(self.label, self.Knobs, err)) from None

    def check(self, cfg: ModelConfig, req: AdaptRequest) -> None:
        """Raise PlannerError if this method cannot run with these knobs on this model."""
        self.knobs(req)

    # ---- what it trains and stores
    def trainable_params(self, cfg: ModelConfig, req: AdaptRequest) -> int:
        raise NotImplementedError

    def weights_bytes(self, cfg: ModelConfig, req: AdaptRequest, bytes_per_param: float) -> float:
        """Bytes of the base model's weights as this method stores them."""
        return param_counts(cfg).total * bytes_per_param

    def extra_seq_tokens(self, req: AdaptRequest) -> int:
        """Virtual tokens the model runs through every layer on top of each sequence (prompt tuning)."""
        return 0

    def extra_keys(self, req: AdaptRequest) -> int:
        """Extra keys every query attends to (prompt and prefix tuning)."""
        return self.extra_seq_tokens(req)

    def adapter_saved_per_layer(self, cfg: ModelConfig, req: AdaptRequest, act_bytes: float) -> float:
        """Bytes the adapter itself saves for its backward pass in ONE layer of one micro-batch. With
        gradient checkpointing only one layer's worth is alive (it is recomputed in the backward pass)."""
        return 0.0

    def dequantised_bytes(self, cfg: ModelConfig) -> float:
        """Transient bytes of a 4-bit layer dequantised for its matmul (QLoRA)."""
        return 0.0

    # ---- memory
    def memory(self, cfg: ModelConfig, req: AdaptRequest, trainable: int) -> MemoryBreakdown:
        """Peak bytes per GPU of one micro-batch's step, by part (GB = 1e9 bytes)."""
        w, g, o = trained_state_bytes(req.precision)
        base_trained = trainable if self.trains_base else 0
        adapter = 0 if self.trains_base else trainable
        fp32 = core_memory.DTYPE_BYTES["fp32"]  # peft keeps adapters in fp32 (autocast_adapter_dtype=True)
        activations = (self.activation_bytes(cfg, req) + self.dequantised_bytes(cfg)
                       + self.autocast_copy_bytes(cfg, req, trainable))
        grads = base_trained * g + adapter * fp32
        if req.gradient_checkpointing:
            # the activation peak is at the loss, before any gradient exists (zero_grad(set_to_none=True));
            # the gradients fill up while the backward pass releases the checkpoints
            activations = max(activations - grads, 0.0)
        # the other peak: AdamW's step (torch's foreach implementation allocates one temporary per trained
        # tensor, `_foreach_sqrt(exp_avg_sqs)`, torch/optim/adamw.py) while weights, grads and states are alive
        activations = max(activations, base_trained * w + adapter * fp32)
        parts = dict(weights_gb=self.weights_bytes(cfg, req, w) / GB, adapter_gb=adapter * fp32 / GB,
                     grads_gb=grads / GB,
                     optimizer_gb=(base_trained * o + adapter * 2 * fp32) / GB,  # AdamW m and v
                     activations_gb=activations / GB)
        return MemoryBreakdown(**parts, total_gb=sum(parts.values()))

    def activation_bytes(self, cfg: ModelConfig, req: AdaptRequest) -> float:
        """Activations of one micro-batch when gradients flow through the whole body: the blocks
        (memory.activation_bytes), the loss's logits and buffers as transformers computes them, and what the
        adapter saves. Without checkpointing all of it is alive when the loss is computed. With gradient
        checkpointing every block keeps only its input; the loss's buffers are freed before the backward pass
        recomputes one block (with its adapters' inputs) at a time, so the peak holds the larger of the two,
        not both, and the adapters' inputs are not kept at full depth."""
        seq = req.seq_len + self.extra_seq_tokens(req)
        tokens = seq * req.micro_batch
        scale = activation_dtype_bytes(req.precision) / core_memory.ACTIVATION_BYTES  # blocks follow the dtype
        adapter_layer = self.adapter_saved_per_layer(cfg, req, activation_dtype_bytes(req.precision))
        loss = loss_bytes(cfg, tokens) if req.head == "lm" else 0.0
        residual = self.fp32_residual_bytes(cfg, req, tokens)
        amp_layer = autocast_layer_bytes(cfg, req, seq)
        if not req.gradient_checkpointing:
            body = core_memory.activation_bytes(cfg, seq, req.micro_batch, recompute="none",
                                                attention=req.attention, logit_bytes=0)
            return body * scale + residual + loss + cfg.n_layers * (adapter_layer + amp_layer)
        kept = core_memory.activation_bytes(cfg, seq, req.micro_batch, recompute="full", attention=req.attention,
                                            logit_bytes=0)
        layer = core_memory.layer_activation_bytes(cfg, seq, req.micro_batch, req.attention)
        return (kept - layer) * scale + residual + max(loss, layer * scale + adapter_layer + amp_layer)

    def fp32_residual(self, req: AdaptRequest) -> bool:
        """True when the residual stream is fp32 while matmuls run in 16-bit (amp: fp32 weights and norms)."""
        return req.precision == "amp"

    def fp32_residual_bytes(self, cfg: ModelConfig, req: AdaptRequest, tokens: int) -> float:
        """With an fp32 residual stream each block's two norm inputs are saved at 4 bytes, not 2 (+2·2 per
        s·b·h), and with checkpointing each block's saved input is fp32 (+2 per s·b·h)."""
        if not self.fp32_residual(req) or req.precision == "fp32":
            return 0.0
        per_layer = 2 if req.gradient_checkpointing else 4
        return per_layer * cfg.n_layers * tokens * cfg.d_model

    def autocast_copy_bytes(self, cfg: ModelConfig, req: AdaptRequest, trainable: int) -> float:
        """amp (fp32 weights under bf16 autocast) keeps a bf16 copy of every weight a matmul uses until the
        backward pass needs it: autocast caches the copy of a trained leaf weight for the whole forward, and
        the copy of a frozen weight is saved for its input gradient (pytorch aten/src/ATen/autocast_mode.cpp,
        `cached_cast`). With checkpointing the frozen copies live one block at a time."""
        if req.precision != "amp":
            return 0.0
        linears = sum(m.d_in * m.d_out * m.count for m in linear_modules(cfg)) + expert_weight_params(cfg)
        head = cfg.vocab_size * cfg.d_model if req.head == "lm" else 0  # a classifier never multiplies by it
        trained = min(trainable, linears) if self.trains_base else 0  # trained matmul weights (cached copies)
        frozen_alive = linears / cfg.n_layers if req.gradient_checkpointing else linears
        return core_memory.DTYPE_BYTES["bf16"] * (max(trained, frozen_alive) + head)

    # ---- compute
    def flops_per_token(self, cfg: ModelConfig, req: AdaptRequest, trainable: int) -> float:
        """Training FLOPs per dataset token. Frozen weights need no weight gradients: backpropagating through
        the body costs forward 2N + input-gradient 2N = 4N (+ attention), plus `adapter_flops`."""
        train = flops_per_token(cfg, seq_len=req.seq_len + self.extra_keys(req), training=True)
        per_token = train.dense * 2 / 3 + train.attention + self.adapter_flops(trainable)
        if req.gradient_checkpointing:
            per_token += train.total / 3  # one extra forward of every layer in the backward pass
        return per_token * (req.seq_len + self.extra_seq_tokens(req)) / req.seq_len

    def adapter_flops(self, trainable: int) -> float:
        return 0.0

    # ---- words
    def notes(self, cfg: ModelConfig, req: AdaptRequest) -> list[str]:
        """What this method's estimate assumes beyond the shared knobs."""
        return ["adapter weights, grads and AdamW states in fp32 (peft autocast_adapter_dtype)"]

    # ---- measured runs
    def unavailable(self, device: str) -> str | None:
        """Why a measured run cannot run on `device` (None: it can)."""
        return None

    def build(self, model, cfg: ModelConfig, req: AdaptRequest):
        """The torch model to train (parameters to train have requires_grad, the rest are frozen)."""
        raise NotImplementedError


class PeftMethod(AdaptMethod):
    """A method that peft implements: `build` applies `peft_config`."""

    def peft_config(self, cfg: ModelConfig, req: AdaptRequest):
        raise NotImplementedError

    def build(self, model, cfg, req):
        from peft import get_peft_model  # heavy import, only for measured runs

        return get_peft_model(model, self.peft_config(cfg, req))


def activation_dtype_bytes(precision: str) -> float:
    """Bytes of a saved activation: fp32 without autocast, else bf16."""
    return core_memory.DTYPE_BYTES["fp32"] if precision == "fp32" else core_memory.ACTIVATION_BYTES


def autocast_layer_bytes(cfg: ModelConfig, req: AdaptRequest, seq: int) -> float:
    """What one block saves under amp (fp32 weights, 16-bit autocast) beyond the 16-bit count, per micro-batch.
    Autocast caches only casts of weights (leaf tensors that require grad, aten/src/ATen/autocast_mode.cpp
    `cached_cast`); an fp32 activation is cast again by every op that reads it. The norms run in fp32 under
    autocast, so each projection that reads a norm output saves its own 16-bit copy: q, k and v (and gate and
    up) save 3 (2) copies where the 16-bit count has one. GPT-2's fused c_attn and c_fc read theirs once.
    Eager attention's softmax runs in fp32 under autocast: its saved output is 4 bytes per score, not 2, in
    blocks with attention dropout (the 'gpt2' family's coefficient; Llama-style eager already upcasts)."""
    if req.precision != "amp":
        return 0.0
    linears = linear_modules(cfg)
    attn_reads = sum(1 for m in linears if m.d_in == cfg.d_model and m.name.split(".")[0] in ("attn", "self_attn")
                     and not m.name.endswith(("c_proj", "o_proj")))
    mlp_reads = sum(1 for m in linears if m.d_in == cfg.d_model and m.name.split(".")[0] == "mlp"
                    and m.name != "mlp.gate")
    copies = max(attn_reads - 1, 0) + max(mlp_reads - 1, 0)
    tokens = seq * req.micro_batch
    copy_bytes = copies * core_memory.ACTIVATION_BYTES * tokens * cfg.d_model
    scores = 2 * cfg.n_heads * seq * tokens if req.attention == "eager" and cfg.family == "gpt2" else 0.0
    return copy_bytes + scores


def loss_bytes(cfg: ModelConfig, tokens: int) -> float:
    """The loss's logits and buffers as transformers computes them (memory.HF_LOSS_BYTES_PER_LOGIT)."""
    return core_memory.HF_LOSS_BYTES_PER_LOGIT * tokens * cfg.vocab_size
