"""The catalog of published models (data/models.csv), checked against the 6ND rule.

For every model with a known token count the catalog computes C = 6ND (with the *active* parameters of a
mixture-of-experts model), compares it with a commonly quoted compute figure where one exists (flagged when
they differ by more than `DISAGREEMENT_THRESHOLD`), derives the MFU implied by the published GPU-hours, and
prices the training run on any accelerator at any MFU.
"""
from __future__ import annotations

import csv
from functools import lru_cache

from pydantic import BaseModel, Field

from planner.core.budget import DEFAULT_ACCELERATOR, DEFAULT_MFU, Cost, implied_mfu, training_cost, training_flops
from planner.errors import PlannerError
from planner.core.hardware import get_accelerator
from planner.core.laws import FLOPS_PER_PARAM_TOKEN
from planner.core.settings import DATA_TABLES
from planner.recipe.vision import vision_compute

MODELS_CSV = DATA_TABLES / "models.csv"
DISAGREEMENT_THRESHOLD = 0.25  # quoted compute more than 25% away from 6ND is worth a second look
# Implied MFU outside this band usually means the published hours cover more than one clean run
# (restarts, ablations, post-training) or that a figure is wrong. Large dense runs report 0.35-0.55.
PLAUSIBLE_MFU = (0.25, 0.65)


class CatalogModel(BaseModel):
    """One published model, as the papers report it."""

    name: str
    family: str
    params: float = Field(gt=0, description="total parameters")
    active_params: float | None = Field(default=None, gt=0, description="per-token parameters of an MoE")
    tokens: float | None = Field(default=None, gt=0, description="training tokens; None if unpublished")
    reported_gpu_hours: float | None = Field(default=None, gt=0)
    reported_accelerator: str | None = None
    reported_mfu: float | None = Field(default=None, gt=0, le=1)
    quoted_compute_flops: float | None = Field(default=None, gt=0)
    quoted_source: str | None = None
    estimate: bool = Field(default=False, description="unofficial figures, not published by the developer")
    compute_preset: str | None = Field(default=None, description="vision preset whose samples x tokens give the "
                                                                  "compute (planner.recipe.vision), for non-LLMs")
    source: str
    note: str | None = None

    @property
    def training_params(self) -> float:
        """Parameters that touch each token: 6ND counts these (all of them for a dense model)."""
        return self.active_params or self.params


class ModelRow(CatalogModel):
    """A catalog model with what the planner computes from it."""

    compute_flops: float | None = Field(description="6 x training params x tokens")
    compute_disagreement: float | None = Field(description="quoted / 6ND - 1")
    compute_flagged: bool = Field(description="quoted compute differs from 6ND by more than the threshold")
    implied_mfu: float | None = Field(description="6ND / (reported GPU-hours x dense peak)")
    mfu_plausible: bool | None
    cost: Cost | None = Field(description="this training run on the chosen accelerator and MFU")


@lru_cache(maxsize=1)
def _catalog() -> dict[str, CatalogModel]:
    with MODELS_CSV.open(newline="") as f:
        rows = [CatalogModel(**{k: (v if v != "" else None) for k, v in r.items()}) for r in csv.DictReader(f)]
    return {m.name: m for m in rows}


def catalog() -> list[CatalogModel]:
    return list(_catalog().values())


def get_model(name: str) -> CatalogModel:
    models = _catalog()
    if name not in models:
        raise PlannerError(f"unknown model '{name}'; choose one of: {', '.join(models)}")
    return models[name]


def _disagreement(quoted: float | None, computed: float | None) -> float | None:
    return None if quoted is None or computed is None else quoted / computed - 1


def model_row(model: CatalogModel, accelerator: str = DEFAULT_ACCELERATOR, mfu: float | None = DEFAULT_MFU,
              gpus: int = 1024) -> ModelRow:
    """The computed fields of one model; its cost is that of training it on `gpus` x `accelerator` at `mfu`
    (None: no cost, for a table that shows everything else while the MFU is being corrected)."""
    acc = get_accelerator(accelerator)
    flops = None if model.tokens is None else training_flops(model.training_params, model.tokens)
    tokens = model.tokens
    if model.compute_preset:  # a vision model: samples seen x tokens per sample, both towers (CLIP), all crops
        flops = vision_compute(model.compute_preset).flops
        tokens = flops / (FLOPS_PER_PARAM_TOKEN * model.training_params)  # the 6ND-equivalent, for the cost
    mfu_implied = None
    if flops is not None and model.reported_gpu_hours and model.reported_accelerator:
        mfu_implied = implied_mfu(flops, model.reported_gpu_hours, model.reported_accelerator)
    disagreement = _disagreement(model.quoted_compute_flops, flops)
    return ModelRow(
        **model.model_dump(), compute_flops=flops, compute_disagreement=disagreement,
        compute_flagged=disagreement is not None and abs(disagreement) > DISAGREEMENT_THRESHOLD,
        implied_mfu=mfu_implied,
        mfu_plausible=None if mfu_implied is None else PLAUSIBLE_MFU[0] <= mfu_implied <= PLAUSIBLE_MFU[1],
        cost=None if flops is None or mfu is None
        else training_cost(model.training_params, tokens, acc, gpus, mfu))


def model_table(accelerator: str = DEFAULT_ACCELERATOR, mfu: float | None = DEFAULT_MFU,
                gpus: int = 1024) -> list[ModelRow]:
    """Every catalog model with computed compute, disagreement flags, implied MFU and cost (none when `mfu`
    is None). An invalid MFU or GPU count raises PlannerError."""
    return [model_row(m, accelerator, mfu, gpus) for m in catalog()]
