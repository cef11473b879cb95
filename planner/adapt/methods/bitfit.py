"""BitFit (Ben Zaken et al. 2022): only biases and normalisation weights train; Llama has no biases, so
there it is LayerNorm tuning (peft's ln_tuning)."""
from __future__ import annotations

from planner.adapt.methods.base import AdaptMethod, bias_params, freeze_all, norm_params


class BitFit(AdaptMethod):
    name, label = "bitfit", "BitFit / LayerNorm tuning"
    summary = "only biases and normalisation weights train (Llama has no biases: LayerNorm tuning)"
    colour = "rgb(68, 170, 153)"
    learning_rate = 1e-2
    trains_base = True

    def trainable_params(self, cfg, req):
        return bias_params(cfg) + norm_params(cfg)

    def notes(self, cfg, req):
        return []

    def build(self, model, cfg, req):
        freeze_all(model)
        for module in model.modules():
            is_norm = "norm" in type(module).__name__.lower()
            for name, p in module.named_parameters(recurse=False):
                if name == "bias" or is_norm:
                    p.requires_grad_(True)
        return model
