"""Zero-shot / in-context: no training; the base model as is (cost = inference over the data)."""
from __future__ import annotations

from planner.adapt.methods.base import AdaptMethod, MemoryBreakdown, freeze_all
from planner.core.architecture import flops_per_token
from planner.core.memory import inference_memory


class ZeroShot(AdaptMethod):
    name, label = "zero-shot", "Zero-shot / in-context"
    summary = "no training: the base model as is, prompted (cost = inference over the data)"
    colour = "rgb(136, 34, 85)"
    learning_rate = 0.0
    trains_base, trains = True, False

    def trainable_params(self, cfg, req):
        return 0

    def memory(self, cfg, req, trainable):
        inf = inference_memory(cfg, weights_dtype="fp32" if req.precision in ("fp32", "amp") else "bf16",
                               batch=req.micro_batch, seq_len=req.seq_len)
        return MemoryBreakdown(weights_gb=inf.weights_gb, adapter_gb=0, grads_gb=0, optimizer_gb=0,
                               activations_gb=inf.kv_cache_gb, total_gb=inf.total_gb)

    def flops_per_token(self, cfg, req, trainable):
        return flops_per_token(cfg, seq_len=req.seq_len, training=True).total / 3  # one forward pass

    def notes(self, cfg, req):
        return ["no training; FLOPs per token = one forward pass (evaluation / serving)"]

    def build(self, model, cfg, req):
        freeze_all(model)
        return model
