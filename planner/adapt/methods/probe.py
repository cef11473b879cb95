"""Linear probe: a frozen body and a trained output head; no backward pass through the body."""
from __future__ import annotations

from planner.adapt.methods.base import AdaptMethod, activation_dtype_bytes, freeze_all, loss_bytes
from planner.core import memory as core_memory
from planner.core.architecture import flops_per_token, param_counts


class LinearProbe(AdaptMethod):
    name, label = "linear-probe", "Linear probe"
    summary = "frozen body, only the output head trains: no backward pass through the body"
    colour = "rgb(153, 153, 51)"
    learning_rate = 1e-2
    trains_base = True  # the head is a base weight, trained in the base's dtype (no fp32 adapter)

    def trainable_params(self, cfg, req):
        return cfg.vocab_size * cfg.d_model

    def weights_bytes(self, cfg, req, bytes_per_param):
        # a head tied to the input embedding gets its own trainable copy (the embedding stays frozen)
        extra_head = cfg.vocab_size * cfg.d_model if cfg.tie_embeddings else 0
        return (param_counts(cfg).total + extra_head) * bytes_per_param

    def activation_bytes(self, cfg, req):
        """Only the head's input (for its weight gradient) and the loss."""
        tokens = req.seq_len * req.micro_batch
        return loss_bytes(cfg, tokens) + activation_dtype_bytes(req.precision) * tokens * cfg.d_model

    def autocast_copy_bytes(self, cfg, req, trainable):
        return core_memory.DTYPE_BYTES["bf16"] * trainable if req.precision == "amp" else 0.0

    def flops_per_token(self, cfg, req, trainable):
        forward = flops_per_token(cfg, seq_len=req.seq_len, training=True).total / 3
        return forward + 2 * cfg.vocab_size * cfg.d_model  # + the head's weight gradient

    def notes(self, cfg, req):
        return []

    def build(self, model, cfg, req):
        import torch  # heavy import, only for measured runs

        freeze_all(model)
        head = model.get_output_embeddings()
        head.weight = torch.nn.Parameter(head.weight.detach().clone(), requires_grad=True)
        return model
