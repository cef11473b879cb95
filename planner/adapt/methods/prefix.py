"""Prefix tuning (Li & Liang 2021): learned keys and values prepended in every layer."""
from __future__ import annotations

from planner.adapt.methods.base import PeftMethod
from planner.adapt.methods.prompt import VirtualTokenKnobs


class PrefixTuning(PeftMethod):
    name, label = "prefix", "Prefix tuning"
    summary = "learned keys and values prepended in every layer (sized by the KV heads)"
    colour = "rgb(51, 34, 136)"
    learning_rate = 1e-2
    Knobs = VirtualTokenKnobs

    def trainable_params(self, cfg, req):
        return req.virtual_tokens * cfg.n_layers * 2 * cfg.kv_heads * cfg.head_dim

    def extra_keys(self, req):
        return req.virtual_tokens  # prefixes lengthen only the attended keys, not the sequence

    def notes(self, cfg, req):
        return [*super().notes(cfg, req), f"{req.virtual_tokens} virtual tokens"]

    def peft_config(self, cfg, req):
        from peft import PrefixTuningConfig, TaskType  # heavy import, only for measured runs

        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=req.virtual_tokens)
