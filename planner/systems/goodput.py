"""Goodput: the share of wall-clock a training run spends making progress (failures, restarts, checkpointing
and evaluation take the rest), and what published runs imply for it.

GPU-hours = model FLOPs / (peak x MFU x goodput). MFU is the steady-state utilisation (predicted for a layout
by planner.systems.throughput); goodput turns it into the hours a run really books.
"""
from __future__ import annotations

from statistics import median

from pydantic import BaseModel, Field

from planner.catalog import catalog
from planner.core.architecture import ModelConfig, get_preset, suggest_shape
from planner.core.budget import SECONDS_PER_HOUR, training_flops
from planner.core.hardware import get_accelerator
from planner.systems.layout import layout_summary, search_layouts

# Dubey et al. 2024, "The Llama 3 Herd of Models", §3.3.4: "higher than 90% effective training time" over a
# 54-day snapshot of 405B pre-training with 466 interruptions.
DEFAULT_GOODPUT = 0.9
GOODPUT_SOURCE = "Dubey et al. 2024, 'The Llama 3 Herd of Models', §3.3.4 (>90% effective training time)"


def _gpt(layers: int, d: int, heads: int, vocab: int) -> ModelConfig:
    return ModelConfig(family="gpt2", vocab_size=vocab, d_model=d, n_layers=layers, n_heads=heads, d_ff=4 * d,
                       tie_embeddings=True)


LLAMA_405B = ModelConfig(name="llama-3.1-405b", vocab_size=128256, d_model=16384, n_layers=126, n_heads=128,
                         n_kv_heads=8, d_ff=53248, max_seq_len=8192)  # HF config.json of Llama-3.1-405B
# How each catalog run was trained: (shape, GPUs, sequence length, batch tokens, what is assumed).
RUN_SETUPS: dict[str, tuple] = {
    "LLaMA-7B": ("llama-2-7b", 2048, 2048, 4e6, "GPU count assumed as for 65B; Llama-2-7B shape"),
    "LLaMA-13B": ("llama-2-13b", 2048, 2048, 4e6, "GPU count assumed as for 65B; Llama-2-13B shape"),
    "LLaMA-33B": (None, 2048, 2048, 4e6, "GPU count assumed as for 65B; suggested shape"),
    "LLaMA-65B": (None, 2048, 2048, 4e6, "2048 A100 (Touvron et al. 2023 §2.4); suggested shape"),
    "Llama-2-7B": ("llama-2-7b", 2048, 4096, 4e6, "GPU count not published: 2048 assumed"),
    "Llama-2-13B": ("llama-2-13b", 2048, 4096, 4e6, "GPU count not published: 2048 assumed"),
    "Llama-2-70B": ("llama-2-70b", 2048, 4096, 4e6, "GPU count not published: 2048 assumed"),
    "Llama-3-8B": ("llama-3-8b", 2048, 8192, 16e6, "GPU count not published: 2048 assumed"),
    "Llama-3-70B": ("llama-3-70b", 8192, 8192, 16e6, "GPU count not published: 8192 assumed"),
    "Llama-3.1-405B": (LLAMA_405B, 16384, 8192, 16e6, "16K H100, 16M-token batches (Dubey et al. 2024 §3.3)"),
    "BLOOM 176B": (_gpt(70, 14336, 112, 250880), 384, 2048, 4.2e6, "384 A100 (BLOOM paper §3.4)"),
    "OPT-175B": (_gpt(96, 12288, 96, 50272), 992, 2048, 2e6, "992 A100 (Zhang et al. 2022 §2.4)"),
    "Phi-2": (None, 96, 2048, 4e6, "96 A100 (Microsoft blog); batch and shape assumed"),
}


class RunGoodput(BaseModel):
    model: str
    accelerator: str
    gpus: int
    reported_gpu_hours: float
    predicted_mfu: float = Field(description="steady-state MFU of the best layout (planner.systems)")
    layout: str
    implied_goodput: float = Field(description="hours at predicted MFU and goodput 1 / reported hours")
    predicted_gpu_hours: float = Field(description="at predicted MFU and DEFAULT_GOODPUT")
    error: float = Field(description="predicted / reported - 1")
    assumptions: str


def _shape(model: str, spec, params: float) -> ModelConfig:
    if isinstance(spec, ModelConfig):
        return spec
    return get_preset(spec) if spec else suggest_shape(params)


def run_goodput(name: str) -> RunGoodput:
    """What the published GPU-hours of catalog run `name` imply, next to the predicted hours."""
    model = next(m for m in catalog() if m.name == name)
    spec, gpus, seq_len, batch_tokens, assumed = RUN_SETUPS[name]
    plan = search_layouts(_shape(name, spec, model.training_params), gpus, model.reported_accelerator, seq_len,
                          int(batch_tokens))
    peak = get_accelerator(model.reported_accelerator).peak_flops
    ideal_hours = training_flops(model.training_params, model.tokens) / (peak * plan.mfu) / SECONDS_PER_HOUR
    predicted = ideal_hours / DEFAULT_GOODPUT
    return RunGoodput(model=name, accelerator=model.reported_accelerator, gpus=gpus,
                      reported_gpu_hours=model.reported_gpu_hours, predicted_mfu=plan.mfu,
                      layout=layout_summary(plan),
                      implied_goodput=ideal_hours / model.reported_gpu_hours, predicted_gpu_hours=predicted,
                      error=predicted / model.reported_gpu_hours - 1, assumptions=assumed)


def published_goodputs() -> list[RunGoodput]:
    return [run_goodput(name) for name in RUN_SETUPS]


def median_abs_error(runs: list[RunGoodput]) -> float:
    return median(abs(r.error) for r in runs)
