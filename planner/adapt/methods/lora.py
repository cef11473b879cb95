"""LoRA (Hu et al. 2021): a frozen base plus low-rank A·B on target linears, r·(d_in + d_out) per target."""
from __future__ import annotations

from pydantic import BaseModel, Field

from planner.adapt.methods.base import PeftMethod, select_linears
from planner.errors import PlannerError

# peft's defaults (peft/utils/constants.py, TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING), per family.
DEFAULT_TARGETS = {"gpt2": ["c_attn"], "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"],
                   "mixtral": ["q_proj", "v_proj"]}


class LoraKnobs(BaseModel):
    rank: int = Field(8, ge=1, title="LoRA rank", description="r: trains r·(d_in + d_out) per target layer; "
                                                             "typical ranks are 8 to 64")
    alpha: float = Field(8.0, gt=0, allow_inf_nan=False, title="LoRA alpha",
                         description="scales the update by alpha/r (0 would switch it off); costs nothing")
    target_modules: list[str] | None = Field(None, title="LoRA target modules",
                                             description="module names as peft matches them; None = peft's defaults")


class LoRA(PeftMethod):
    name, label = "lora", "LoRA"
    summary = "frozen base + low-rank A·B on target linears: r(d_in + d_out) per target"
    colour = "rgb(204, 102, 119)"
    learning_rate = 1e-2
    Knobs = LoraKnobs

    def targets(self, cfg, req) -> list[str]:
        return req.target_modules or DEFAULT_TARGETS[cfg.family]

    def check(self, cfg, req):
        self.knobs(req)
        smallest = min(min(m.d_in, m.d_out) for m in select_linears(cfg, self.targets(cfg, req)))
        if req.rank > smallest:  # rank 100,000 counted more adapter weights than the model has
            raise PlannerError(f"LoRA rank {req.rank:,} is above {smallest:,}, the smallest side of a target "
                               "matrix: a rank past min(d_in, d_out) adds weights but no expressiveness")

    def trainable_params(self, cfg, req):
        return sum(req.rank * (m.d_in + m.d_out) * m.count for m in select_linears(cfg, self.targets(cfg, req)))

    def adapter_saved_per_layer(self, cfg, req, act_bytes):
        # lora_A needs its input for its weight gradient, and peft casts that input to the adapter's fp32
        # dtype (lora.Linear.forward: x.to(lora_A.weight.dtype)): one fp32 copy of every target's input.
        tokens = req.seq_len * req.micro_batch
        return sum(4 * tokens * m.d_in for m in select_linears(cfg, self.targets(cfg, req)))

    def adapter_flops(self, trainable):
        return 6 * trainable  # the adapters train like any weight: forward, input and weight gradients

    def notes(self, cfg, req):
        default = " (peft default)" if req.target_modules is None else ""
        return [f"rank {req.rank}, alpha {req.alpha:g}, targets {', '.join(self.targets(cfg, req))}{default}",
                *super().notes(cfg, req)]

    def peft_config(self, cfg, req):
        from peft import LoraConfig, TaskType  # heavy import, only for measured runs

        targets = self.targets(cfg, req)
        return LoraConfig(task_type=TaskType.CAUSAL_LM, r=req.rank, lora_alpha=req.alpha, lora_dropout=0.0,
                          target_modules="all-linear" if targets == ["all-linear"] else targets)
