"""IA3 (Liu et al. 2022): learned vectors rescaling keys, values and the MLP input (peft's default targets)."""
from __future__ import annotations

from planner.adapt.methods.base import PeftMethod, matches, select_linears

# peft's defaults (peft/utils/constants.py, TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING and
# ..._FEEDFORWARD_MODULES_MAPPING), per family.
DEFAULT_TARGETS = {"gpt2": ["c_attn", "mlp.c_proj"], "llama": ["k_proj", "v_proj", "down_proj"],
                   "mistral": ["k_proj", "v_proj", "down_proj"], "mixtral": ["k_proj", "v_proj"]}
FEEDFORWARD = {"gpt2": ["mlp.c_proj"], "llama": ["down_proj"], "mistral": ["down_proj"], "mixtral": []}


class IA3(PeftMethod):
    name, label = "ia3", "IA3"
    summary = "learned vectors rescaling keys, values and the MLP input (peft's default targets)"
    colour = "rgb(170, 68, 153)"
    learning_rate = 3e-2

    def _scaled_widths(self, cfg) -> list[int]:
        """Per target (one layer): the width its vector scales, the input of a feed-forward target
        (peft scales what goes in) and the output of the others."""
        ff = FEEDFORWARD[cfg.family]
        return [m.d_in if any(matches(m.name, t) for t in ff) else m.d_out
                for m in select_linears(cfg, DEFAULT_TARGETS[cfg.family])]

    def trainable_params(self, cfg, req):
        return cfg.n_layers * sum(self._scaled_widths(cfg))

    def adapter_saved_per_layer(self, cfg, req, act_bytes):
        # the learned vector's gradient needs what it multiplies
        return act_bytes * req.seq_len * req.micro_batch * sum(self._scaled_widths(cfg))

    def peft_config(self, cfg, req):
        from peft import IA3Config, TaskType  # heavy import, only for measured runs

        return IA3Config(task_type=TaskType.CAUSAL_LM)
