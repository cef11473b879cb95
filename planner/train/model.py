"""Build a randomly initialised transformers model of a planner shape (the shapes themselves come from
planner.core.architecture and, for ladders, planner.verify.shapes)."""
from __future__ import annotations

from planner.core.architecture import ModelConfig, param_counts, to_hf_config
from planner.errors import PlannerError


def build_model(cfg: ModelConfig, seed: int = 0):
    """A randomly initialised transformers causal LM of exactly this shape (SDPA attention)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    hf = to_hf_config(cfg)
    hf.use_cache = False  # training only: no KV cache
    model = AutoModelForCausalLM.from_config(hf, attn_implementation="sdpa")
    expected = param_counts(cfg).total
    got = sum(p.numel() for p in model.parameters())
    if got != expected:  # the planner's count is what the ladder reports: it must be the real model's
        raise PlannerError(f"model {cfg.name} has {got} parameters, planner counts {expected}")
    return model
