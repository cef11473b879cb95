"""Repeated data: Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models' (NeurIPS 2023), eq. 5.

Tokens seen beyond the unique ones are worth less each epoch: D' = U + U R* (1 - exp(-R / R*)), R = D/U - 1,
with R_D* = 15.39 fitted in the paper (their App. / Table of fitted constants; /work/shared REFERENCE). Up to
about four epochs repeated tokens are almost as good as new ones (their §5, Fig. 1: "up to 4 epochs ...
negligible changes to loss"); past that the returns fall quickly, and past ~16 extra epochs they vanish.
"""
from __future__ import annotations

from pydantic import BaseModel, Field, SerializeAsAny

from planner.core.laws import DataConstrainedLaw
from planner.core.budget import check_positive

MUENNIGHOFF = "Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', eq. 5 (R_D* = 15.39)"
R_D_STAR = 15.387756  # their fitted R_D*: extra epochs after which repeats are worth 1 - 1/e less
EPOCHS_WARN = 4.0  # "up to ~4 epochs, repeating is almost as good as new data" (their Fig. 1 / §5)


class DataLimits(BaseModel):
    tokens: float
    unique_tokens: float
    epochs: float = Field(description="tokens / unique tokens")
    effective_tokens: float = Field(description="Muennighoff's D': what the repeated tokens are worth")
    effective_share: float = Field(description="D' / D")
    warning: str = ""
    citation: str = MUENNIGHOFF


def data_limits(tokens: float, unique_tokens: float) -> DataLimits:
    d = check_positive("tokens", tokens)
    u = min(check_positive("unique tokens", unique_tokens), d)  # fewer tokens than the corpus: no repeats
    effective = float(DataConstrainedLaw.discounted(u, d / u - 1, R_D_STAR))
    epochs = d / u
    warning = ""
    if epochs > EPOCHS_WARN:
        warning = (f"{epochs:.1f} epochs over the unique data: past ~{EPOCHS_WARN:g} epochs repeated tokens are "
                   f"worth much less (effective {effective / d:.0%} of the tokens seen); find more data or a "
                   "smaller model")
    return DataLimits(tokens=d, unique_tokens=float(unique_tokens), epochs=epochs, effective_tokens=effective,
                      effective_share=effective / d, warning=warning)


class WithDataLimits(BaseModel):
    """Any sizing answer plus what it implies for a corpus of `unique_tokens` (CLI `--unique-tokens`)."""

    answer: SerializeAsAny[BaseModel]
    data_limits: DataLimits


def with_data_limits(answer: BaseModel, unique_tokens: float) -> WithDataLimits:
    return WithDataLimits(answer=answer, data_limits=data_limits(answer.tokens, unique_tokens))
