"""Transformer shapes: exact parameter counts, FLOPs per token, presets, suggested shapes.

(Skeleton: the config model is fixed here so other modules can build on its field names.)
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelConfig(BaseModel):
    """A decoder-only transformer in the shape transformers instantiates it."""

    name: str = "custom"
    family: Literal["gpt2", "llama", "mistral", "mixtral"] = "llama"
    vocab_size: int = Field(gt=0)
    d_model: int = Field(gt=0, description="hidden size")
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int | None = Field(default=None, description="key/value heads (GQA); None = n_heads")
    d_ff: int = Field(gt=0, description="MLP inner size (per expert for MoE)")
    max_seq_len: int = Field(default=2048, gt=0)
    tie_embeddings: bool = False
    n_experts: int = Field(default=1, ge=1)
    experts_per_token: int = Field(default=1, ge=1)
