"""Measured adaptation runs: the job kind "adapt".

One job adapts one base model to one downstream corpus with every selected method, on the same data and
the same number of steps, and records per method: train and eval loss curves, peak memory, tokens/s,
wall time and trainable parameters, next to the estimate from `planner.adaptation` for the same knobs.
peft builds LoRA, prompt, prefix and IA3; full fine-tuning, BitFit and the linear probe are plain torch.
"""
from __future__ import annotations

import math
import time

from pydantic import BaseModel, Field

from planner.adaptation import METHOD_NAMES, AdaptRequest, get_method, resolve_model
from planner.architecture import ModelConfig
from planner.errors import PlannerError


# ---------------------------------------------------------------------------------------------- variants
def base_model(cfg: ModelConfig, seed: int = 0, checkpoint: str | None = None):
    """A transformers model of this shape: loaded from a checkpoint, else randomly initialised."""
    import torch
    from transformers import AutoModelForCausalLM

    from planner.architecture import to_hf_config

    if checkpoint:
        return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(to_hf_config(cfg), dtype=torch.float32)


def _is_norm(module) -> bool:
    return "norm" in type(module).__name__.lower()


def _freeze_all(model) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def _bitfit(model):
    """Train only biases and normalisation weights (BitFit, Ben Zaken et al. 2022; LN tuning on Llama)."""
    _freeze_all(model)
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "bias" or _is_norm(module):
                p.requires_grad_(True)
    return model


def _linear_probe(model):
    """Frozen body, trained output head. A head tied to the embedding gets its own trainable copy so the
    frozen input embedding stays frozen."""
    import torch

    _freeze_all(model)
    head = model.get_output_embeddings()
    head.weight = torch.nn.Parameter(head.weight.detach().clone(), requires_grad=True)
    return model


def build_variant(model, cfg: ModelConfig, req: AdaptRequest):
    """The model to train for `req.method` (peft for the methods peft implements, plain torch otherwise).
    Zero-shot returns the frozen base; QLoRA needs CUDA + bitsandbytes and is refused here."""
    method = get_method(req.method)
    method.validate(cfg, req)
    if method.name == "qlora":
        raise PlannerError("qlora needs CUDA + bitsandbytes for its 4-bit base; skipped on this machine")
    if method.name == "full":
        return model
    if method.name in ("zero-shot",):
        _freeze_all(model)
        return model
    if method.name == "bitfit":
        return _bitfit(model)
    if method.name == "linear-probe":
        return _linear_probe(model)
    from peft import get_peft_model
    return get_peft_model(model, method.peft_config(cfg, req))


def count_trainable(model) -> int:
    """Trainable parameters as autograd sees them (unique tensors with requires_grad)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
