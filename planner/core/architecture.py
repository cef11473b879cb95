"""Transformer shapes: exact parameter counts, FLOPs per token, presets, suggested shapes.

Counts match what `transformers` instantiates for the same config (tests check every preset on the
meta device). Conventions:
- *embedding* parameters are the token embedding, GPT-2's learned position embedding and an untied LM
  head; *non-embedding* is everything else (Kaplan et al. 2020 count N without embeddings).
- *active* is what one token touches: for a mixture of experts only `experts_per_token` of the
  `n_experts` MLPs per layer (Mixtral 8x7B: 12.9B active of 46.7B, Jiang et al. 2024).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planner.errors import PlannerError

Family = Literal["gpt2", "llama", "mistral", "mixtral"]


class ModelConfig(BaseModel):
    """A decoder-only transformer in the shape transformers instantiates it."""

    # Frozen, so hashable: the layout search asks for the same counts thousands of times (cached below).
    model_config = ConfigDict(frozen=True)

    name: str = "custom"
    family: Family = "llama"
    vocab_size: int = Field(gt=0)
    d_model: int = Field(gt=0, description="hidden size")
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int | None = Field(default=None, gt=0, description="key/value heads (GQA); None = n_heads")
    d_ff: int = Field(gt=0, description="MLP inner size (per expert for MoE)")
    max_seq_len: int = Field(default=2048, gt=0)
    tie_embeddings: bool = False
    n_experts: int = Field(default=1, ge=1)
    experts_per_token: int = Field(default=1, ge=1)
    sliding_window: int | None = Field(default=None, gt=0,
                                       description="attend to at most this many past tokens (Mistral-7B: 4096)")

    @model_validator(mode="after")
    def _consistent(self) -> "ModelConfig":
        if self.d_model % self.n_heads:
            raise PlannerError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.n_heads % self.kv_heads:
            raise PlannerError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.kv_heads})")
        if self.experts_per_token > self.n_experts:
            raise PlannerError(f"experts_per_token ({self.experts_per_token}) exceeds n_experts ({self.n_experts})")
        if self.family == "mixtral" and self.n_experts < 2:
            raise PlannerError("a mixtral-family model needs n_experts >= 2")
        if self.family != "mixtral" and self.n_experts > 1:
            raise PlannerError(f"only the mixtral family has experts (family is {self.family!r})")
        if self.family == "gpt2" and self.n_kv_heads not in (None, self.n_heads):
            raise PlannerError("GPT-2 blocks have no grouped-query attention: leave n_kv_heads empty")
        if self.sliding_window is not None and self.family not in ("mistral", "mixtral"):
            raise PlannerError(f"sliding-window attention is a mistral/mixtral option (family is {self.family!r})")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    def attended_tokens(self, seq_len: int) -> int:
        """How many tokens a query at the end of a `seq_len` context attends to (and the KV cache keeps)."""
        return seq_len if self.sliding_window is None else min(seq_len, self.sliding_window)


# ---------------------------------------------------------------- presets (values from HF config.json)
def _llama(name, vocab, d, layers, heads, kv, ff, seq, tie=False, family="llama", **kw) -> ModelConfig:
    return ModelConfig(name=name, family=family, vocab_size=vocab, d_model=d, n_layers=layers, n_heads=heads,
                       n_kv_heads=kv, d_ff=ff, max_seq_len=seq, tie_embeddings=tie, **kw)


def _gpt2(name, d, layers, heads, vocab=50257, seq=1024) -> ModelConfig:
    # GPT-2's n_inner is null in config.json, which transformers reads as 4 * n_embd.
    return ModelConfig(name=name, family="gpt2", vocab_size=vocab, d_model=d, n_layers=layers, n_heads=heads,
                       d_ff=4 * d, max_seq_len=seq, tie_embeddings=True)


PRESETS: dict[str, ModelConfig] = {cfg.name: cfg for cfg in [
    # huggingface.co/openai-community/gpt2/blob/main/config.json
    _gpt2("gpt2", 768, 12, 12),
    # huggingface.co/openai-community/gpt2-xl/blob/main/config.json
    _gpt2("gpt2-xl", 1600, 48, 25),
    # huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json
    _llama("llama-2-7b", 32000, 4096, 32, 32, None, 11008, 4096),
    # huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json
    _llama("llama-2-13b", 32000, 5120, 40, 40, None, 13824, 4096),
    # huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json (GQA, 8 kv heads)
    _llama("llama-2-70b", 32000, 8192, 80, 64, 8, 28672, 4096),
    # huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json
    _llama("llama-3-8b", 128256, 4096, 32, 32, 8, 14336, 8192),
    # huggingface.co/meta-llama/Meta-Llama-3-70B/blob/main/config.json
    _llama("llama-3-70b", 128256, 8192, 80, 64, 8, 28672, 8192),
    # huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json (tie_word_embeddings: true)
    _llama("llama-3.2-1b", 128256, 2048, 16, 32, 8, 8192, 131072, tie=True),
    # huggingface.co/meta-llama/Llama-3.2-3B/blob/main/config.json (tie_word_embeddings: true)
    _llama("llama-3.2-3b", 128256, 3072, 28, 24, 8, 8192, 131072, tie=True),
    # huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json (sliding_window: 4096)
    _llama("mistral-7b", 32000, 4096, 32, 32, 8, 14336, 32768, family="mistral", sliding_window=4096),
    # huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json (8 experts, top-2, no sliding window)
    _llama("mixtral-8x7b", 32000, 4096, 32, 32, 8, 14336, 32768, family="mixtral",
           n_experts=8, experts_per_token=2),
    # CPU-sized models for tests and the verification ladder (~0.5M params; GQA on purpose so the
    # small model exercises the same code paths as Llama-3). Override vocab_size to match a tokenizer.
    _llama("tiny", 512, 128, 2, 4, 2, 384, 256),
    ModelConfig(name="tiny-gpt2", family="gpt2", vocab_size=512, d_model=128, n_layers=2, n_heads=4,
                d_ff=512, max_seq_len=256, tie_embeddings=True),
]}


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise PlannerError(f"unknown model preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


# ---------------------------------------------------------------- parameter counts
def default_seq(cfg: ModelConfig, preferred: int) -> int:
    """A command's default sequence length, cut to what the model can hold (see check_context)."""
    return min(preferred, cfg.max_seq_len) if cfg.family == "gpt2" else preferred


def check_context(cfg: ModelConfig, seq_len: int) -> None:
    """A GPT-2-family model has learned positions for `max_seq_len` tokens and none beyond: a longer sequence
    is not a run of that model. (RoPE models can be run past their trained context, at their own risk.)"""
    if cfg.family == "gpt2" and seq_len > cfg.max_seq_len:
        raise PlannerError(f"{cfg.name} has {cfg.max_seq_len:,} learned positions: a sequence of {seq_len:,} "
                           "tokens is longer")


class ParamCounts(BaseModel):
    total: int
    non_embedding: int
    embedding: int = Field(description="token (+ position) embeddings and an untied LM head")
    active: int = Field(description="parameters one token uses (MoE: only the routed experts)")
    active_non_embedding: int


def _attention_params(cfg: ModelConfig) -> int:
    d, hd = cfg.d_model, cfg.head_dim
    if cfg.family == "gpt2":
        return d * 3 * d + 3 * d + d * d + d  # fused c_attn and c_proj, both with bias
    q_and_o = 2 * d * cfg.n_heads * hd
    k_and_v = 2 * d * cfg.kv_heads * hd
    return q_and_o + k_and_v  # Llama/Mistral projections have no bias


def _expert_params(cfg: ModelConfig) -> int:
    """One MLP: GPT-2's fc/proj with biases, or a bias-free SwiGLU gate/up/down."""
    if cfg.family == "gpt2":
        return 2 * cfg.d_model * cfg.d_ff + cfg.d_ff + cfg.d_model
    return 3 * cfg.d_model * cfg.d_ff


def _norm_params(cfg: ModelConfig) -> int:
    return 2 * cfg.d_model if cfg.family == "gpt2" else cfg.d_model  # LayerNorm has a bias, RMSNorm not


def _param_counts(cfg: ModelConfig) -> ParamCounts:
    router = cfg.d_model * cfg.n_experts if cfg.n_experts > 1 else 0  # Mixtral's gate, no bias
    shared = _attention_params(cfg) + router + 2 * _norm_params(cfg)
    per_layer = shared + cfg.n_experts * _expert_params(cfg)
    per_layer_active = shared + cfg.experts_per_token * _expert_params(cfg)
    final_norm = _norm_params(cfg)
    non_embedding = cfg.n_layers * per_layer + final_norm
    active_non_embedding = cfg.n_layers * per_layer_active + final_norm

    embedding = cfg.vocab_size * cfg.d_model
    if cfg.family == "gpt2":
        embedding += cfg.max_seq_len * cfg.d_model  # learned position embedding (wpe)
    if not cfg.tie_embeddings:
        embedding += cfg.vocab_size * cfg.d_model  # separate lm_head (no bias)
    return ParamCounts(total=non_embedding + embedding, non_embedding=non_embedding, embedding=embedding,
                       active=active_non_embedding + embedding, active_non_embedding=active_non_embedding)


# Cached: the layout search asks for the same model's counts thousands of times. A hit compares the key by identity
# first, so a caller that keeps one config object pays only its hash.
param_counts = lru_cache(maxsize=256)(_param_counts)


# ---------------------------------------------------------------- FLOPs per token
class FlopsPerToken(BaseModel):
    dense: float = Field(description="matmuls against the weights, incl. the LM head")
    attention: float = Field(description="QK^T and attention-times-V, which grow with the context")
    total: float
    training: bool
    seq_len: int


@lru_cache(maxsize=1024)
def flops_per_token(cfg: ModelConfig, seq_len: int | None = None, training: bool = True) -> FlopsPerToken:
    """FLOPs per token: training = 6N + 12·L·d·T, inference = 2N + 2·L·d·T.

    N is the active non-embedding count plus the LM-head matmul (d·V): the embedding lookup costs no
    FLOPs but the output projection is a real matmul. With a sliding window, T is capped at the window. Training counts the full T×T attention score and
    value matmuls forward and backward (the MFU convention of Chowdhery et al. 2022, App. B); inference
    is autoregressive decoding with a KV cache, where token t attends to t earlier ones, which averages
    to T/2 over a context of T (Kaplan et al. 2020, eq. 2.2: 2·L·T·d per token forward).
    """
    seq_len = cfg.max_seq_len if seq_len is None else seq_len
    if seq_len <= 0:
        raise PlannerError(f"sequence length must be positive (got {seq_len})")
    counts = param_counts(cfg)
    n = counts.active_non_embedding + cfg.d_model * cfg.vocab_size
    d_attn, attended = cfg.n_heads * cfg.head_dim, cfg.attended_tokens(seq_len)
    if training:
        dense, attention = 6.0 * n, 12.0 * cfg.n_layers * d_attn * attended
    else:
        dense, attention = 2.0 * n, 2.0 * cfg.n_layers * d_attn * attended
    return FlopsPerToken(dense=dense, attention=attention, total=dense + attention, training=training,
                         seq_len=seq_len)


# ---------------------------------------------------------------- suggested shapes
# Kaplan et al. 2020 (Fig. 5) find loss within a few percent of optimal for aspect ratios
# d_model/n_layers from ~20 to ~200; Levine et al. 2020 show the best depth grows only slowly with width.
# Released models sit in 64-128 (GPT-3 175B: 128, Llama-2-70B: 102, Llama-2-7B: 128), our target band.
ASPECT_MIN, ASPECT_MAX, ASPECT_PREFERRED = 64, 128, 96
# Tiny models have too few (layers, width) pairs inside the band to land near every target, so the search
# also admits 16-256 (narrow-and-deep is the lesser evil for a 1e5-parameter model), with a penalty
# that only a much closer count outweighs.
ASPECT_SEARCH_MIN, ASPECT_SEARCH_MAX = 16, 256
TOLERANCE = math.log(1.1)  # a shape within 10% of the target beats any shape preference
MAX_LAYERS = 320
SWIGLU_FF_MULTIPLE = 256  # Llama's `multiple_of`: 8/3·d rounded up to 256 (4096 -> 11008)


def _head_dim_for(d: int) -> int:
    # GPT-2 and Llama-3.2-1B use 64, Llama-2-7B and larger 128; CPU-sized models (TinyStories-style)
    # use 32 so that widths can move in finer steps.
    return 128 if d >= 4096 else 64 if d >= 256 else 32


def _width_step(d: int) -> int:
    # Widths from 2048 up keep the head count a multiple of 8, so 8 kv heads divide it and tensor
    # parallelism over 8 GPUs splits heads evenly; below that, whole heads.
    return 8 * _head_dim_for(d) if d >= 2048 else _head_dim_for(d)


def _swiglu_ff(d: int) -> int:
    return SWIGLU_FF_MULTIPLE * math.ceil(8 * d / 3 / SWIGLU_FF_MULTIPLE)


def _shape(family: Family, d: int, layers: int, vocab_size: int, seq_len: int,
           validate: bool = True) -> ModelConfig:
    # The search builds thousands of candidates: skip pydantic validation there (the shapes are valid
    # by construction) and validate only the one returned.
    make = ModelConfig if validate else ModelConfig.model_construct
    heads = d // _head_dim_for(d)
    common = dict(name=f"{family}-L{layers}-d{d}", family=family, vocab_size=vocab_size, d_model=d,
                  n_layers=layers, n_heads=heads, max_seq_len=seq_len)
    if family == "gpt2":
        return make(d_ff=4 * d, tie_embeddings=True, **common)
    # Grouped-query attention with 8 kv heads once there are 32+ heads (Llama-2-70B, Llama-3 practice).
    kv = 8 if heads >= 32 and heads % 8 == 0 else None
    moe = dict(n_experts=8, experts_per_token=2) if family == "mixtral" else {}
    return make(d_ff=_swiglu_ff(d), n_kv_heads=kv, **moe, **common)


def _count(family: Family, d: int, layers: int, vocab_size: int, seq_len: int, counting: str) -> int:
    # Uncached: hundreds of throwaway candidates would evict the counts of the models in use, and leave an equal
    # but distinct key behind for the shape returned (every later hit would then compare configs field by field).
    counts = _param_counts(_shape(family, d, layers, vocab_size, seq_len, validate=False))
    return counts.total if counting == "total" else counts.non_embedding


def _widths():
    d = 64  # narrower than 64 is not worth a transformer
    while True:
        yield d
        d += _width_step(d)


def _aspect_penalty(aspect: float) -> float:
    """Mild preference for ~96 inside the band; outside it, costs like a 30%-per-e-fold count error."""
    outside = max(math.log(ASPECT_MIN / aspect), math.log(aspect / ASPECT_MAX), 0.0)
    return 0.03 * abs(math.log(aspect / ASPECT_PREFERRED)) + 0.3 * outside


@lru_cache(maxsize=256)  # one config object per request (frozen, so safe to share): cache hits stay identity hits
def suggest_shape(target_params: float, family: Family = "llama", vocab_size: int = 32000,
                  seq_len: int = 2048, counting: Literal["total", "non_embedding"] = "total") -> ModelConfig:
    """A conventional shape (layers, width, heads, d_ff) whose parameter count is close to the target.

    The count is linear in depth for a fixed width, so for each width we solve for the depth that hits
    the target and try its two integer neighbours. Among candidates within 10% of the target (or, if
    none is, among all) the best minimises the relative count error plus a penalty for leaving the
    aspect-ratio band (and a mild pull towards 96 inside it).
    `counting` says whether the target is the total count (Chinchilla) or non-embedding (Kaplan).
    """
    if not (math.isfinite(target_params) and target_params > 0):
        raise PlannerError(f"target parameter count must be positive and finite (got {target_params!r})")
    best, best_score = None, (True, math.inf)
    for d in _widths():
        one, two = (_count(family, d, n, vocab_size, seq_len, counting) for n in (1, 2))
        per_layer, base = two - one, 2 * one - two
        min_layers = max(1, math.ceil(d / ASPECT_SEARCH_MAX))
        max_layers = min(MAX_LAYERS, math.floor(d / ASPECT_SEARCH_MIN))
        if base + per_layer * min_layers > 2 * target_params or min_layers > MAX_LAYERS:
            break  # wider models only get bigger, or need more layers than any shape searched
        ideal = (target_params - base) / per_layer
        for layers in {math.floor(ideal), math.ceil(ideal)}:
            layers = min(max(layers, min_layers), max_layers)
            error = abs(math.log((base + per_layer * layers) / target_params))
            # Hitting the target within tolerance comes first; shape preferences only rank those that do.
            score = (error > TOLERANCE, error + _aspect_penalty(d / layers))
            if score < best_score:
                best, best_score = (d, layers), score
    smallest = _count(family, 64, 1, vocab_size, seq_len, counting)
    got = _count(family, *best, vocab_size, seq_len, counting) if best else smallest
    if got > 1.25 * target_params:
        raise PlannerError(
            f"the closest {family} shape has {got:.3g} parameters, far above the {target_params:.3g} asked for "
            f"(the smallest one, 1 layer of width 64 with a vocabulary of {vocab_size}, has {smallest:.3g}); "
            "use a smaller vocabulary or count non-embedding parameters")
    if got < 0.75 * target_params:
        raise PlannerError(f"{target_params:.3g} parameters is beyond the largest shape searched "
                           f"({MAX_LAYERS} layers); the closest has {got:.3g}")
    return _shape(family, *best, vocab_size, seq_len)


SHAPE_VOCABULARIES = (32000, 4096, 256)  # Llama's, a small BPE's, bytes: small models cannot carry a 32k table


def suggest_shape_any_vocab(target_params: float, family: Family = "llama", seq_len: int = 2048) -> ModelConfig:
    """`suggest_shape` with the largest of the usual vocabularies that a model of this size can hold."""
    for vocab_size in SHAPE_VOCABULARIES[:-1]:
        try:
            return suggest_shape(target_params, family=family, vocab_size=vocab_size, seq_len=seq_len)
        except PlannerError:
            pass
    return suggest_shape(target_params, family=family, vocab_size=SHAPE_VOCABULARIES[-1], seq_len=seq_len)


class ShapeSuggestion(BaseModel):
    """A suggested shape with the numbers a person checks it by."""

    target_params: float
    shape: ModelConfig
    params: ParamCounts
    relative_error: float = Field(description="(counted - target) / target, on the counting asked for")
    aspect_ratio: float = Field(description="d_model / n_layers")


def explain_shape(target_params: float, counting: Literal["total", "non_embedding"] = "total",
                  **kwargs) -> ShapeSuggestion:
    """`suggest_shape` plus its parameter counts and how close it lands (for the CLI and pages)."""
    shape = suggest_shape(target_params, counting=counting, **kwargs)
    counts = param_counts(shape)
    got = counts.total if counting == "total" else counts.non_embedding
    return ShapeSuggestion(target_params=target_params, shape=shape, params=counts,
                           relative_error=got / target_params - 1, aspect_ratio=shape.d_model / shape.n_layers)


# ---------------------------------------------------------------- transformers configs
def to_hf_config(cfg: ModelConfig):
    """The transformers config that instantiates exactly this shape (dropout and rope left at defaults)."""
    from transformers import GPT2Config, LlamaConfig, MistralConfig, MixtralConfig

    if cfg.family == "gpt2":
        return GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.max_seq_len, n_embd=cfg.d_model,
                          n_layer=cfg.n_layers, n_head=cfg.n_heads, n_inner=cfg.d_ff,
                          tie_word_embeddings=cfg.tie_embeddings,
                          # GPT-2's end-of-text is the last token; keep it inside a smaller vocabulary
                          bos_token_id=cfg.vocab_size - 1, eos_token_id=cfg.vocab_size - 1)
    common = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
                  num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                  num_key_value_heads=cfg.kv_heads, head_dim=cfg.head_dim,
                  max_position_embeddings=cfg.max_seq_len, tie_word_embeddings=cfg.tie_embeddings)
    if cfg.family == "mixtral":
        return MixtralConfig(num_local_experts=cfg.n_experts, num_experts_per_tok=cfg.experts_per_token,
                             sliding_window=cfg.sliding_window, **common)
    if cfg.family == "mistral":
        return MistralConfig(sliding_window=cfg.sliding_window, **common)  # HF's default would be 4096
    return LlamaConfig(**common)
