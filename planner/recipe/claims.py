"""Check a quoted training-compute figure against C = 6ND (Kaplan et al. 2020 §2.1; active parameters for a
mixture of experts) or, for the vision presets, samples seen x tokens per sample (planner.recipe.vision)."""
from __future__ import annotations

import math

from pydantic import BaseModel, Field

from planner.catalog import DISAGREEMENT_THRESHOLD, catalog
from planner.core import budget, laws
from planner.core.budget import SECONDS_PER_HOUR
from planner.core.hardware import get_accelerator
from planner.core.laws import FLOPS_PER_PARAM_TOKEN, PF_DAY
from planner.errors import PlannerError
from planner.recipe import vision


class Claim(BaseModel):
    params: float
    active_params: float | None = None
    tokens: float | None = None
    flops: float = Field(description="6 x (active) params x tokens, or the vision preset's compute")
    flops_pf_days: float
    quoted: str
    quoted_flops: float
    quoted_pf_days: float
    disagreement: float = Field(description="quoted / computed - 1")
    flagged: bool = Field(description=f"more than {DISAGREEMENT_THRESHOLD:.0%} apart")
    explanation: str


def parse_quoted(quoted: str) -> float:
    """'6000 PF-days', '3.14e23 FLOPs', '3.14e23' -> FLOPs."""
    try:
        request = budget.parse_budget(str(quoted))
    except PlannerError:
        request = None
    if request is None or request.flops is None:
        raise PlannerError(f"'{quoted}' is not a compute figure; write it like '6000 PF-days' or '3.1e23 FLOPs'")
    return budget.check_positive("the quoted figure", request.flops, "FLOPs")


def _explain(ratio: float, params: float, active: float | None) -> str:
    """The usual reasons a quoted figure is off by a recognisable factor."""
    if abs(ratio - 1) <= DISAGREEMENT_THRESHOLD:
        return "agrees with 6ND within the threshold"
    known = [(1 / 3, "the quote looks like 2ND: forward pass only (training is 6ND: forward 2ND + backward 4ND)"),
             (0.5, "the quote is about half of 6ND: half the tokens, or about half the (active) parameters "
                   "assumed here"),
             (2.0, "the quote is about twice 6ND: perhaps 12ND, or attention FLOPs counted at a long context")]
    if active and active < params:
        known.append((params / active, "the quote uses all parameters of the mixture of experts; each token "
                                       "only passes through the active ones"))
    for factor, why in known:
        if abs(math.log(ratio / factor)) < math.log(1.15):
            return why
    direction = "larger" if ratio > 1 else "smaller"
    return (f"the quote is {ratio:.3g}x the computed figure ({direction}); quotes often come from GPU-hours x "
            "peak FLOP/s (which ignores utilisation) or from a different token or parameter count")


def check_claim(params: float, tokens: float, quoted: str, active_params: float | None = None) -> Claim:
    n = budget.check_positive("params", params)
    d = budget.check_positive("tokens", tokens)
    if active_params is not None:
        budget.check_positive("active params", active_params)
        if active_params > n:
            raise PlannerError(f"active params ({active_params:.3g}) exceed total params ({n:.3g})")
    flops = budget.check_positive("6ND", FLOPS_PER_PARAM_TOKEN * (active_params or n) * d, "FLOPs")  # may overflow
    return _claim(n, active_params, d, flops, quoted)


def _claim(params, active, tokens, flops: float, quoted: str) -> Claim:
    quoted_flops = parse_quoted(quoted)
    ratio = quoted_flops / flops
    return Claim(params=params, active_params=active, tokens=tokens, flops=flops, flops_pf_days=flops / PF_DAY,
                 quoted=str(quoted), quoted_flops=quoted_flops, quoted_pf_days=quoted_flops / PF_DAY,
                 disagreement=ratio - 1, flagged=abs(ratio - 1) > DISAGREEMENT_THRESHOLD,
                 explanation=_explain(ratio, params, active))


def _peak_capacity_flops(preset: str) -> float | None:
    """Peak FLOPs of the published GPU-hours of the catalog model trained as `preset` (None if none)."""
    for model in catalog():
        if model.compute_preset == preset and model.reported_gpu_hours and model.reported_accelerator:
            return model.reported_gpu_hours * SECONDS_PER_HOUR * get_accelerator(model.reported_accelerator).peak_flops
    return None


def check_vision_claim(preset: str, quoted: str) -> Claim:
    compute = vision.vision_compute(preset)
    claim = _claim(float(vision.vision_params(preset).total), None, None, compute.flops, quoted)
    if not claim.flagged:
        return claim
    why = claim.explanation
    peak = _peak_capacity_flops(preset)
    if peak is not None and abs(claim.quoted_flops / peak - 1) < 0.3:  # a quote near GPU-hours x peak
        why = (f"the quote is close to the peak capacity of the published GPU-hours ({peak / PF_DAY:,.0f} PF-days "
               f"at 100% utilisation), not the model FLOPs ({claim.flops_pf_days:,.0f} PF-days)")
    return claim.model_copy(update={"explanation": f"{why}. Computed from {compute.assumption}"})


class QuotedFigure(BaseModel):
    name: str
    quoted: str
    source: str
    claim: Claim
    verdict: str


def _rule_of_thumb() -> QuotedFigure:
    """'N = 0.0056 sqrt(C/6), D = N' at Chinchilla's budget: 1.7B params on 1.7B tokens."""
    c = 5.76e23
    n = 0.0056 * math.sqrt(c / 6)
    claim = check_claim(n, n, f"{c} FLOPs")
    optimum = laws.get_law(laws.DEFAULT_LAW).optimal(c)
    verdict = (f"wrong: it gives {n / 1e9:.1f}B params on {n / 1e9:.1f}B tokens (1 token per parameter), which "
               f"spends {claim.flops:.2g} of the {c:.3g} FLOPs; {optimum.law} gives {optimum.params / 1e9:.0f}B "
               f"params on {optimum.tokens / 1e12:.2f}T tokens ({optimum.tokens_per_param:.0f} per parameter)")
    return QuotedFigure(name="rule of thumb 'N = 0.0056 sqrt(C/6), D = N' at Chinchilla's 5.76e23 FLOPs",
                        quoted=f"{c} FLOPs", source="a popular slide; compare Hoffmann et al. 2022 Table 3",
                        claim=claim, verdict=verdict)


def _verdict(claim: Claim) -> str:
    return ("flagged: " if claim.flagged else "agrees: ") + claim.explanation


def quoted_figures() -> list[QuotedFigure]:
    """Commonly quoted compute figures and what the planner makes of them."""
    rows = [
        ("GPT-3 175B, 300B tokens", check_claim(175e9, 300e9, "3640 PF-days"),
         "Brown et al. 2020, Table D.1 (3,640 PF-days)"),
        ("CLIP ViT-L/14", check_vision_claim("clip-vit-l-14", "300 PF-days"), "often quoted in course notes"),
        ("DINOv2 ViT-g/14", check_vision_claim("dinov2-vit-g-14", "500 PF-days"), "often quoted in course notes"),
        ("LLaMA 2 70B, 2T tokens", check_claim(70e9, 2e12, "6000 PF-days"), "often quoted in course notes"),
        ("GPT-4 (est.) ~1.8T MoE (~280B active), ~10T tokens", check_claim(1.8e12, 10e12, "100000 PF-days",
                                                                           active_params=280e9),
         "unofficial estimates (SemiAnalysis, July 2023: 1.8T total, ~280B active); OpenAI published nothing"),
    ]
    figures = [QuotedFigure(name=name, quoted=claim.quoted, source=src, claim=claim, verdict=_verdict(claim))
               for name, claim, src in rows]
    return figures + [_rule_of_thumb()]
