"""Prompt tuning (Lester et al. 2021): learned virtual input embeddings; every sequence gets longer."""
from __future__ import annotations

from pydantic import BaseModel, Field

from planner.adapt.methods.base import PeftMethod


class VirtualTokenKnobs(BaseModel):
    virtual_tokens: int = Field(20, ge=1, title="the number of virtual tokens",
                                description="learned virtual tokens (peft's num_virtual_tokens)")


class PromptTuning(PeftMethod):
    name, label = "prompt", "Prompt tuning"
    summary = "learned virtual input embeddings; every sequence gets longer by the virtual tokens"
    colour = "rgb(17, 119, 51)"
    learning_rate = 3e-2  # prompts want large rates (Lester et al. 2021 use 0.3)
    Knobs = VirtualTokenKnobs

    def trainable_params(self, cfg, req):
        return req.virtual_tokens * cfg.d_model

    def extra_seq_tokens(self, req):
        return req.virtual_tokens

    def notes(self, cfg, req):
        return [*super().notes(cfg, req), f"{req.virtual_tokens} virtual tokens"]

    def peft_config(self, cfg, req):
        from peft import PromptTuningConfig, TaskType  # heavy import, only for measured runs

        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=req.virtual_tokens)

    def build(self, model, cfg, req):
        return skip_virtual_tokens(super().build(model, cfg, req), req.virtual_tokens)


def skip_virtual_tokens(model, virtual: int):
    """peft's prompt tuning returns logits for the virtual tokens too; the loss scores only the real ones.
    A module wrapper (not a patched trainer) so any training loop sees ordinary logits."""
    import torch  # heavy import, only for measured runs

    class SkipVirtualTokens(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, **kwargs):
            out = self.inner(**kwargs)
            out.logits = out.logits[:, virtual:]
            return out

    return SkipVirtualTokens()
