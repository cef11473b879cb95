"""Goodput: the share of wall-clock a training run spends making progress (failures, restarts, checkpointing
and evaluation take the rest), and what published runs imply for it.

GPU-hours = model FLOPs / (peak x MFU x goodput). MFU is the steady-state utilisation (predicted for a layout
by planner.systems.throughput); goodput turns it into the hours a run really books.
"""
from __future__ import annotations

from statistics import median
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from planner.catalog import get_model
from planner.core.architecture import ModelConfig
from planner.core.budget import SECONDS_PER_HOUR, training_flops
from planner.core.hardware import Accelerator, get_accelerator
from planner.systems.layout import layout_summary, search_layouts
from planner.systems.published import expected_mfu, hours_range

# Dubey et al. 2024, "The Llama 3 Herd of Models", §3.3.4: "higher than 90% effective training time" over a
# 54-day snapshot of 405B pre-training with 466 interruptions.
DEFAULT_GOODPUT = 0.9
GOODPUT_SOURCE = "Dubey et al. 2024, 'The Llama 3 Herd of Models', §3.3.4 (>90% effective training time)"


def _gpt(layers: int, d: int, heads: int, vocab: int) -> ModelConfig:
    return ModelConfig(family="gpt2", vocab_size=vocab, d_model=d, n_layers=layers, n_heads=heads, d_ff=4 * d,
                       tie_embeddings=True)


LLAMA_405B = ModelConfig(name="llama-3.1-405b", vocab_size=128256, d_model=16384, n_layers=126, n_heads=128,
                         n_kv_heads=8, d_ff=53248, max_seq_len=8192)  # HF config.json of Llama-3.1-405B


def _llama1(d: int, layers: int, heads: int, d_ff: int) -> ModelConfig:
    """LLaMA (Touvron et al. 2023a, Table 2: width, heads, layers; d_ff as in the released config.json)."""
    return ModelConfig(vocab_size=32000, d_model=d, n_layers=layers, n_heads=heads, d_ff=d_ff, max_seq_len=2048)


# microsoft/phi-2 config.json: 32 layers, width 2560, 32 heads, MLP 10240, vocab 51200, 2048 context, untied head.
# MPT (mosaicml/mpt-7b and mpt-1b-redpajama-200b model cards): GELU MLP of 4 x width, no biases, ALiBi, tied
# embeddings, vocabulary 50,432 (the 7B card; the 1.3B card uses the same GPT-NeoX tokenizer).
MPT_7B = _gpt(32, 4096, 32, 50432)
MPT_1B = _gpt(24, 2048, 16, 50432)
# TinyLlama README: 22 layers, 32 heads, 4 query groups, width 2048, SwiGLU 5632, Llama 2 tokenizer (32,000).
TINYLLAMA = ModelConfig(vocab_size=32000, d_model=2048, n_layers=22, n_heads=32, n_kv_heads=4, d_ff=5632,
                        max_seq_len=2048)
# tiiuae/falcon-180B model card: 80 layers, width 14,848, head dim 64 (232 heads), 8 key/value groups (one per
# TP rank), vocabulary 65,024, GELU MLP of 4 x width. Written as a SwiGLU block of two thirds that size: the same
# weights and FLOPs (2 x 14848 x 59392 = 3 x 14848 x 39595), which the speed model sees.
FALCON_180B = ModelConfig(vocab_size=65024, d_model=14848, n_layers=80, n_heads=232, n_kv_heads=8, d_ff=39595,
                          max_seq_len=2048)

PHI_2 = ModelConfig(family="gpt2", vocab_size=51200, d_model=2560, n_layers=32, n_heads=32, d_ff=10240,
                    max_seq_len=2048, tie_embeddings=False)

HoursBasis = Literal["wall-clock", "throughput", "not comparable"]
# What a run's published GPU-hours count, and so what to compare them with:
#   wall-clock: GPUs x days of the run: predicted hours at the default goodput;
#   throughput: tokens / steady-state throughput (no failures counted): predicted hours at goodput 1;
#   not comparable: the hours cover more than one clean pass (reruns, rollbacks, unstated extras): shown, not scored.
LLAMA1_BASIS = ("LLaMA Table 15 hours are throughput-derived: 65B's 1,022,362 = 1.4T tokens / 380 tokens/s/GPU "
                "(Touvron et al. 2023a §2.4) / 3600 within 0.1%; the same table's other rows taken alike")


class RunSetup(NamedTuple):
    shape: ModelConfig | str  # a ModelConfig or a preset name
    gpus: int
    seq_len: int
    batch_tokens: float
    basis: HoursBasis
    published_mfu: float | None  # steady-state MFU the run's own paper reports, if any
    note: str
    inter_node_gbs: float | None = None  # the cluster's network per GPU where it differs from the GPU table's


# AWS p4d.24xlarge: 8 A100 40GB with 400 Gbps of EFA networking per instance (AWS EC2 P4 instance page), so
# 50 Gb/s = 6.25 GB/s per GPU, a quarter of the DGX A100's one 200 Gb/s HDR port per GPU that data/gpus.csv assumes.
P4D_INTER_NODE_GBS = 400 / 8 / 8


# How each catalog run was trained, with sources; GPU counts not published are assumed (said so in the note).
RUN_SETUPS: dict[str, RunSetup] = {
    "LLaMA-7B": RunSetup(_llama1(4096, 32, 32, 11008), 2048, 2048, 4e6, "throughput", None,
                         "GPU count assumed as for 65B. " + LLAMA1_BASIS),
    "LLaMA-13B": RunSetup(_llama1(5120, 40, 40, 13824), 2048, 2048, 4e6, "throughput", None,
                          "GPU count assumed as for 65B. " + LLAMA1_BASIS),
    "LLaMA-33B": RunSetup(_llama1(6656, 60, 52, 17920), 2048, 2048, 4e6, "throughput", None,
                          "GPU count assumed as for 65B. " + LLAMA1_BASIS),
    "LLaMA-65B": RunSetup(_llama1(8192, 80, 64, 22016), 2048, 2048, 4e6, "throughput", 0.487,
                          "2048 A100 (Touvron et al. 2023a §2.4); MFU from its 380 tokens/s/GPU. " + LLAMA1_BASIS),
    "Llama-2-7B": RunSetup("llama-2-7b", 2048, 4096, 4e6, "wall-clock", None, "GPU count not published: 2048 assumed"),
    "Llama-2-13B": RunSetup("llama-2-13b", 2048, 4096, 4e6, "wall-clock", None,
                            "GPU count not published: 2048 assumed"),
    "Llama-2-70B": RunSetup("llama-2-70b", 2048, 4096, 4e6, "wall-clock", None,
                            "GPU count not published: 2048 assumed"),
    "Llama-3-8B": RunSetup("llama-3-8b", 2048, 8192, 16e6, "not comparable", None,
                           "model-card cumulative hours, not broken down: even at goodput 1 they imply 0.16 MFU, "
                           "well under the 0.38-0.43 Meta reports for 405B on the same H100s (Dubey et al. 2024 "
                           "Table 4); GPU count not published: 2048 assumed"),
    "Llama-3-70B": RunSetup("llama-3-70b", 8192, 8192, 16e6, "not comparable", None,
                            "model-card cumulative hours, not broken down: even at goodput 1 they imply 0.29 MFU, "
                            "under the 0.38-0.43 reported for 405B (Dubey et al. 2024 Table 4); GPU count not "
                            "published: 8192 assumed"),
    "Llama-3.1-405B": RunSetup(LLAMA_405B, 16384, 8192, 16e6, "wall-clock", 0.41,
                               "16K H100, 16M-token batches, 0.38-0.43 MFU (Dubey et al. 2024 §3.3, Table 4); the "
                               "model card's hours match that MFU at >90% effective training time (§3.3.4)"),
    "BLOOM 176B": RunSetup(_gpt(70, 14336, 112, 250880), 384, 2048, 4.2e6, "wall-clock", 0.361,
                           "384 A100 for ~117 days (BLOOM paper §3.4; hours from Touvron 2023a Table 15); 150 "
                           "TFLOP/s per GPU with full recomputation = 0.361 MFU"),
    "OPT-175B": RunSetup(_gpt(96, 12288, 96, 50272), 992, 2048, 2e6, "not comparable", 0.471,
                         "992 A100; the hours include restarts after hardware failures and rollbacks to earlier "
                         "checkpoints after loss divergences (Zhang et al. 2022 §2.5 and the OPT-175B logbook): at "
                         "its own 147 TFLOP/s one pass takes 2.3x fewer hours than reported"),
    "Phi-2": RunSetup(PHI_2, 96, 2048, 4e6, "wall-clock", None,
                      "96 A100 for '14 days' (Microsoft blog; rounded); batch not published: 4M tokens assumed"),
    "MPT-7B": RunSetup(MPT_7B, 440, 2048, 1760 * 2048, "wall-clock", None,
                       "440 A100-40GB for 'about 9.5 days', FSDP, batch 1760 x 2048 (model card); network of the "
                       "MosaicML platform not published: the GPU table's assumed"),
    "MPT-1.3B": RunSetup(MPT_1B, 440, 2048, 2200 * 2048, "wall-clock", None,
                         "440 A100-40GB for 'about half a day', FSDP, batch 2200 x 2048 (model card); the hours are "
                         "the coarsest in the table"),
    "TinyLlama-1.1B": RunSetup(TINYLLAMA, 16, 2048, 2048 * 1024, "throughput", 0.56,
                               "16 A100-40G, FSDP, batch 2048 x 1024, 24k tokens/s per GPU = 56% MFU as the README "
                               "states; hours derived from that throughput"),
    "Falcon-180B": RunSetup(FALCON_180B, 4096, 2048, 2048 * 2048, "wall-clock", None,
                            "up to 4,096 A100 40GB in AWS P4d instances (TP8 x PP8 x DP64, ZeRO; model card), whose "
                            "network is 6.25 GB/s per GPU; batch 2048 x 2048 after a ramp-up; '~7,000,000 GPU hours'",
                            inter_node_gbs=P4D_INTER_NODE_GBS),
}

# Catalog runs with published hours that the check above leaves out, and why (a test keeps this list complete).
NOT_CHECKED: dict[str, str] = {
    "CLIP ViT-L/14": "vision: the speed model is for decoder-only language models",
    "DINOv2 ViT-g/14": "vision: the speed model is for decoder-only language models",
    "SAM ViT-H": "vision: the speed model is for decoder-only language models",
    "GPT-4": "unofficial estimate of size, tokens and hours (SemiAnalysis), nothing published to check against",
    "DeepSeek-V3": "FP8 matmuls, multi-head latent attention and 256 fine-grained experts with DualPipe: none of "
                   "them is in the speed model, which would predict a different run",
}


class RunGoodput(BaseModel):
    model: str
    accelerator: str
    gpus: int
    reported_gpu_hours: float
    hours_basis: HoursBasis = Field(description="what the published hours count (see RUN_SETUPS)")
    comparable: bool = Field(description="False where the hours cover more than one clean run: shown, not scored")
    predicted_mfu: float = Field(description="steady-state MFU --mfu auto plans with: the best layout's x the "
                                             "share published runs reached (planner.systems.published)")
    layout_mfu: float = Field(description="MFU predicted for the best layout on a well-tuned stack")
    published_mfu: float | None = Field(None, description="steady-state MFU the run's source reports")
    layout: str
    implied_goodput: float = Field(description="hours at predicted MFU and goodput 1 / reported hours")
    goodput_applied: float = Field(description="DEFAULT_GOODPUT for wall-clock hours, 1 for throughput-derived")
    predicted_gpu_hours: float = Field(description="at predicted MFU and goodput_applied")
    error: float = Field(description="predicted / reported - 1")
    predicted_range: tuple[float, float] = Field(description="predicted hours at the 90th and 10th percentile of "
                                                             "the realized share (what --mfu auto gives as range)")
    within_range: bool = Field(description="the reported hours fall inside predicted_range")
    error_at_published_mfu: float | None = Field(None, description="the same at the source's own MFU: the "
                                                 "goodput part of the error, without the MFU prediction's")
    assumptions: str


def run_accelerator(name: str) -> Accelerator:
    """The accelerator catalog run `name` trained on, with its cluster's network where the source states one."""
    acc = get_accelerator(get_model(name).reported_accelerator)
    network = RUN_SETUPS[name].inter_node_gbs
    return acc.model_copy(update={"inter_node_gbs": network}) if network else acc


def run_goodput(name: str) -> RunGoodput:
    """What the published GPU-hours of catalog run `name` imply, next to the predicted hours."""
    model = get_model(name)
    setup = RUN_SETUPS[name]
    acc = run_accelerator(name)
    plan = search_layouts(setup.shape, setup.gpus, acc, setup.seq_len, int(setup.batch_tokens))
    peak = acc.peak_flops
    flops = training_flops(model.training_params, model.tokens)
    mfu = expected_mfu(plan.mfu)  # what --mfu auto plans with
    ideal_hours = flops / (peak * mfu) / SECONDS_PER_HOUR
    goodput = 1.0 if setup.basis == "throughput" else DEFAULT_GOODPUT
    predicted = ideal_hours / goodput
    low, high = hours_range(predicted)
    at_published = None
    if setup.published_mfu:
        at_published = flops / (peak * setup.published_mfu * goodput) / SECONDS_PER_HOUR / model.reported_gpu_hours - 1
    return RunGoodput(model=name, accelerator=model.reported_accelerator, gpus=setup.gpus,
                      reported_gpu_hours=model.reported_gpu_hours, hours_basis=setup.basis,
                      comparable=setup.basis != "not comparable", predicted_mfu=mfu, layout_mfu=plan.mfu,
                      published_mfu=setup.published_mfu, layout=layout_summary(plan),
                      implied_goodput=ideal_hours / model.reported_gpu_hours, goodput_applied=goodput,
                      predicted_gpu_hours=predicted, error=predicted / model.reported_gpu_hours - 1,
                      predicted_range=(low, high), within_range=low <= model.reported_gpu_hours <= high,
                      error_at_published_mfu=at_published, assumptions=setup.note)


def published_goodputs() -> list[RunGoodput]:
    return [run_goodput(name) for name in RUN_SETUPS]


def median_abs_error(runs: list[RunGoodput]) -> float:
    """Median |error| over the comparable runs (the ones whose hours count one clean run)."""
    return median(abs(r.error) for r in runs if r.comparable)


class HoursCheck(NamedTuple):
    runs: int
    median_abs_error: float
    within_range: int


def hours_check(runs: list[RunGoodput]) -> HoursCheck:
    """How the comparable runs' published hours compare with what --mfu auto predicts for them."""
    scored = [r for r in runs if r.comparable]
    return HoursCheck(len(scored), median_abs_error(runs), sum(r.within_range for r in scored))


# The result of hours_check(published_goodputs()), recorded for the pages (a search per run is too slow to redo on
# every redraw); tests/systems/test_goodput.py recomputes it.
HOURS_CHECKED = HoursCheck(runs=14, median_abs_error=0.18, within_range=11)
HOURS_CHECKED_SENTENCE = (f"checked on {HOURS_CHECKED.runs} published runs: median error "
                          f"{HOURS_CHECKED.median_abs_error:.0%}, {HOURS_CHECKED.within_range} of {HOURS_CHECKED.runs} "
                          "inside their range (benchmarks/RESULTS.md)")
