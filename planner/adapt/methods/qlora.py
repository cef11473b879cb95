"""QLoRA (Dettmers et al. 2023): LoRA on a base whose block linears are stored in 4-bit NF4."""
from __future__ import annotations

from planner.adapt.methods.base import expert_weight_params, linear_modules
from planner.adapt.methods.lora import LoRA
from planner.core.architecture import param_counts
from planner.errors import PlannerError

# NF4 with double quantisation: 4.127 bits per parameter (Dettmers et al. 2023, "QLoRA", section 3);
# embeddings, norms and the output head stay in 16-bit.
NF4_BYTES_PER_PARAM = 4.127 / 8
NOT_MEASURED = "measured QLoRA runs are not implemented yet (estimate only)"


class QLoRA(LoRA):
    name, label = "qlora", "QLoRA (4-bit base)"
    summary = "LoRA on a base whose block linears are stored in 4-bit NF4 (needs CUDA + bitsandbytes)"
    colour = "rgb(221, 204, 119)"

    def quantised_params(self, cfg) -> int:
        return sum(m.d_in * m.d_out * m.count for m in linear_modules(cfg)) + expert_weight_params(cfg)

    def weights_bytes(self, cfg, req, bytes_per_param):
        # peft's prepare_model_for_kbit_training (the QLoRA recipe, artidoro/qlora qlora.py) casts every
        # parameter that is not quantised (embeddings, norms, output head) to fp32
        quantised = self.quantised_params(cfg)
        return (param_counts(cfg).total - quantised) * 4 + quantised * NF4_BYTES_PER_PARAM

    def fp32_residual(self, req):
        return True  # fp32 embeddings and norms keep the residual stream in fp32 under autocast

    def autocast_copy_bytes(self, cfg, req, trainable):
        return 2 * cfg.vocab_size * cfg.d_model  # the fp32 head's 16-bit copy, saved for its input gradient

    def dequantised_bytes(self, cfg):
        return 2 * max(m.d_in * m.d_out for m in linear_modules(cfg))  # one linear at a time, in bf16

    def notes(self, cfg, req):
        return [*super().notes(cfg, req), "block linears in NF4 with double quantisation (4.127 bits/param); "
                "embeddings, norms and head in fp32 (prepare_model_for_kbit_training), 16-bit autocast; "
                "needs CUDA + bitsandbytes; dequantisation makes it slower than LoRA at equal FLOPs"]

    def unavailable(self, device):
        if not device.startswith("cuda") or not _has_bitsandbytes():
            return "needs CUDA + bitsandbytes"
        return NOT_MEASURED

    def build(self, model, cfg, req):
        raise PlannerError(f"qlora: {NOT_MEASURED}")  # on any device: there is no 4-bit build yet


def _has_bitsandbytes() -> bool:
    try:
        import bitsandbytes  # noqa: F401  (only asked whether it is installed)
    except ImportError:
        return False
    return True
