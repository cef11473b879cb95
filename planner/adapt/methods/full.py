"""Full fine-tuning: every weight trains (6N FLOPs per token, weights + grads + AdamW states for all N)."""
from __future__ import annotations

from planner.adapt.methods.base import AdaptMethod
from planner.core.architecture import flops_per_token, param_counts


class FullFineTuning(AdaptMethod):
    name, label = "full", "Full fine-tuning"
    summary = "every weight trains: 6N FLOPs per token, weights + grads + AdamW states for all N"
    colour = "rgb(136, 204, 238)"
    # ~10x below the adapters' rate (Hu et al. 2021 fine-tune GPT-3 at 2e-5 vs LoRA's 2e-4; scaled up for
    # the tiny, briefly pretrained bases of measured runs)
    learning_rate = 1e-3
    trains_base, is_reference = True, True

    def trainable_params(self, cfg, req):
        return param_counts(cfg).total

    def flops_per_token(self, cfg, req, trainable):
        train = flops_per_token(cfg, seq_len=req.seq_len, training=True).total
        return train * 4 / 3 if req.gradient_checkpointing else train  # + one forward when recomputing

    def notes(self, cfg, req):
        return []

    def build(self, model, cfg, req):
        return model
