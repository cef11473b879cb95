"""FLOPs <-> GPU-hours <-> days on K GPUs <-> dollars, for one accelerator at one MFU.

One GPU-hour at model-FLOPs utilisation `mfu` delivers `mfu * peak * 3600` FLOPs (`flops_per_gpu_hour`);
every conversion here is that one product, divided or multiplied. Training compute is 6ND
(`training_flops`, Kaplan et al. 2020 §2.1). A budget can be given as any one of FLOPs, GPU-hours,
GPU-days, K GPUs for some days, or dollars (`resolve_budget`), or as free text (`parse_budget`).
"""
from __future__ import annotations

import math
import re
from numbers import Real

from pydantic import BaseModel, Field

from planner.errors import PlannerError
from planner.core.hardware import Accelerator, get_accelerator, names_and_aliases
from planner.core.laws import FLOPS_PER_PARAM_TOKEN, PF_DAY, check_flops
from planner.core.numbers import SCALE as _SCALE, check_positive

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0
DEFAULT_ACCELERATOR = "H100-SXM"
# A budget that names no GPU count is spread over the fewest GPUs (a power of two) that spend it within
# about a quarter, a common planning horizon; the result says it assumed the count.
ASSUMED_MAX_DAYS = 90.0
DEFAULT_MFU = 0.4  # typical of well-tuned large dense runs (LLaMA-65B ~0.48 implied, Llama 3.1 405B 0.38-0.43)

# --- validation ------------------------------------------------------------------------------------


MIN_MFU = 1e-3  # 0.1%: below it no run is training (an MFU of 1e-300 planned 1.7e302 GPUs)
MIN_GOODPUT = 0.01  # a run that makes progress 1% of the time is not a plan (1e-300 gave 4.9e302 days)


def check_mfu(mfu) -> float:
    if isinstance(mfu, bool) or not isinstance(mfu, Real) or not (MIN_MFU <= mfu <= 1):
        raise PlannerError(f"MFU must be a fraction from {MIN_MFU:g} to 1, e.g. 0.4 for 40% (got {mfu!r})")
    return float(mfu)


# 50 x the largest clusters built (~200k GPUs); past it wall-clock came out as "< 1 s" for any real run.
MAX_GPU_COUNT = 10_000_000


def check_gpus(gpus) -> int:
    if isinstance(gpus, bool) or not isinstance(gpus, Real) or not math.isfinite(gpus) or gpus < 1 \
            or int(gpus) != gpus:
        raise PlannerError(f"the number of GPUs must be a whole number of at least 1 (got {gpus!r})")
    if gpus > MAX_GPU_COUNT:
        raise PlannerError(f"{int(gpus):,} GPUs is past {MAX_GPU_COUNT:,}, 50 times the largest clusters built")
    return int(gpus)


# --- the single formulas ---------------------------------------------------------------------------


def training_flops(params: float, tokens: float) -> float:
    """C = 6 N D: forward 2ND plus backward 4ND (attention FLOPs ignored, as in Kaplan and Hoffmann)."""
    return FLOPS_PER_PARAM_TOKEN * check_positive("params", params) * check_positive("tokens", tokens)


def flops_per_gpu_hour(accelerator: str | Accelerator, mfu: float) -> float:
    """Useful (model) FLOPs one accelerator delivers in an hour at utilisation `mfu`."""
    return check_mfu(mfu) * get_accelerator(accelerator).peak_flops * SECONDS_PER_HOUR


def flops_to_gpu_hours(flops: float, accelerator: str | Accelerator, mfu: float) -> float:
    return check_positive("compute", flops, "FLOPs") / flops_per_gpu_hour(accelerator, mfu)


def gpu_hours_to_flops(gpu_hours: float, accelerator: str | Accelerator, mfu: float) -> float:
    return check_positive("GPU-hours", gpu_hours) * flops_per_gpu_hour(accelerator, mfu)


def implied_mfu(flops: float, gpu_hours: float, accelerator: str | Accelerator) -> float:
    """The MFU at which `gpu_hours` on `accelerator` deliver `flops` (reported hours include restarts)."""
    return check_positive("compute", flops, "FLOPs") / gpu_hours_to_flops(gpu_hours, accelerator, 1.0)


def mfu_from_throughput(model_flops_per_second: float, chips: int, accelerator: str | Accelerator) -> float:
    """MFU = achieved model FLOP/s / (chips x dense peak) (Chowdhery et al. 2022, App. B)."""
    peak = check_gpus(chips) * get_accelerator(accelerator).peak_flops
    return check_positive("throughput", model_flops_per_second, "FLOP/s") / peak


def gpu_hours_to_days(gpu_hours: float, gpus: int) -> float:
    return gpu_hours / (check_gpus(gpus) * HOURS_PER_DAY)


def gpu_hours_to_usd(gpu_hours: float, accelerator: str | Accelerator) -> float:
    return gpu_hours * get_accelerator(accelerator).usd_per_hour


# --- cost of one training run ----------------------------------------------------------------------


class Cost(BaseModel):
    """What training `params` on `tokens` costs on `gpus` accelerators at `mfu`."""

    params: float
    tokens: float
    accelerator: str
    gpus: int
    mfu: float
    flops: float = Field(description="6ND")
    gpu_hours: float
    days: float = Field(description="wall-clock days on `gpus` accelerators")
    usd: float
    usd_per_gpu_hour: float
    price_date: str
    goodput: float = Field(1.0, description="productive share of wall-clock; GPU-hours = FLOPs / (peak x MFU x "
                                            "goodput). 1 when the MFU given is already the all-in figure")
    layout: str | None = Field(None, description="the parallel layout the MFU was predicted for (--mfu auto)")
    layout_mfu: float | None = Field(None, description="MFU predicted for `layout` on a well-tuned stack; with "
                                                       "--mfu auto, `mfu` is this x the share published runs reached")
    gpu_hours_range: tuple[float, float] | None = Field(None, description="GPU-hours if the run reaches the 90th / "
                                                        "10th percentile of that share (--mfu auto)")
    gpu_hours_checked: str | None = Field(None, description="how this way of predicting hours did on published runs "
                                                            "(--mfu auto)")


def check_goodput(goodput) -> float:
    if isinstance(goodput, bool) or not isinstance(goodput, Real) or not (MIN_GOODPUT <= goodput <= 1):
        raise PlannerError(f"goodput must be a fraction from {MIN_GOODPUT:g} to 1, e.g. 0.9 (got {goodput!r})")
    return float(goodput)


def training_cost(params: float, tokens: float, accelerator: str | Accelerator = DEFAULT_ACCELERATOR,
                  gpus: int = 1, mfu: float = DEFAULT_MFU, goodput: float = 1.0) -> Cost:
    """Cost at steady-state `mfu` for the productive `goodput` share of the wall-clock."""
    acc = get_accelerator(accelerator)
    flops = training_flops(params, tokens)
    gpu_hours = flops_to_gpu_hours(flops, acc, mfu) / check_goodput(goodput)
    return Cost(params=params, tokens=tokens, accelerator=acc.name, gpus=check_gpus(gpus), mfu=mfu,
                flops=flops, gpu_hours=gpu_hours, days=gpu_hours_to_days(gpu_hours, gpus),
                usd=gpu_hours_to_usd(gpu_hours, acc), usd_per_gpu_hour=acc.usd_per_hour,
                price_date=acc.price_date, goodput=goodput)


# --- budgets ---------------------------------------------------------------------------------------


class BudgetRequest(BaseModel):
    """A budget as the user states it: exactly one of flops, gpu_hours, gpu_days, gpus + days, usd.

    `gpus` alone is not a budget; given with another quantity it sets how many days the budget lasts.
    Without it the budget is spread over `assumed_gpus` (the result says so).
    """

    flops: float | None = None
    gpu_hours: float | None = None
    gpu_days: float | None = None
    gpus: int | None = None
    days: float | None = None
    usd: float | None = None
    accelerator: str = DEFAULT_ACCELERATOR
    mfu: float = DEFAULT_MFU


class Budget(BaseModel):
    """A budget in every unit at once."""

    flops: float
    gpu_hours: float
    gpus: int
    gpus_assumed: bool = Field(description="True when the budget named no GPU count (see `assumed_gpus`)")
    days: float = Field(description="wall-clock days on `gpus`")
    usd: float
    accelerator: str
    mfu: float
    given: str = Field(description="which quantity the budget was stated in")
    usd_per_gpu_hour: float
    price_date: str


def _stated_quantity(req: BudgetRequest) -> str:
    stated = [k for k in ("flops", "gpu_hours", "gpu_days", "usd") if getattr(req, k) is not None]
    if req.days is not None:
        if req.gpus is None:
            raise PlannerError("a budget in days needs a number of GPUs too, e.g. 512 GPUs for 30 days")
        stated.append("gpus+days")
    if len(stated) != 1:
        got = ", ".join(stated) or "nothing"
        raise PlannerError("give exactly one budget: FLOPs, GPU-hours, GPU-days, GPUs + days, or dollars "
                           f"(got {got})")
    return stated[0]


def _gpu_hours_of(req: BudgetRequest, given: str, acc: Accelerator) -> float:
    if given == "flops":
        return flops_to_gpu_hours(req.flops, acc, req.mfu)
    if given == "gpu_hours":
        return check_positive("GPU-hours", req.gpu_hours)
    if given == "gpu_days":
        return check_positive("GPU-days", req.gpu_days) * HOURS_PER_DAY
    if given == "usd":
        return check_positive("budget", req.usd, "dollars") / acc.usd_per_hour
    return check_gpus(req.gpus) * check_positive("days", req.days) * HOURS_PER_DAY


def assumed_gpus(gpu_hours: float, max_days: float = ASSUMED_MAX_DAYS) -> int:
    """Fewest GPUs, a power of two, that spend `gpu_hours` within `max_days` of wall-clock time."""
    needed = check_positive("GPU-hours", gpu_hours) / (max_days * HOURS_PER_DAY)
    return 1 if needed <= 1 else 2 ** math.ceil(math.log2(needed))


def resolve_budget(req: BudgetRequest) -> Budget:
    """Express a budget stated in one unit in all of them, for one accelerator at one MFU."""
    acc = get_accelerator(req.accelerator)
    mfu = check_mfu(req.mfu)
    if req.gpus is not None:
        check_gpus(req.gpus)
    given = _stated_quantity(req)
    gpu_hours = _gpu_hours_of(req, given, acc)
    flops = check_flops(gpu_hours_to_flops(gpu_hours, acc, mfu))  # dollars or hours past any real run: refused
    gpus = assumed_gpus(gpu_hours) if req.gpus is None else int(req.gpus)
    return Budget(flops=flops, gpu_hours=gpu_hours, gpus=gpus,
                  gpus_assumed=req.gpus is None, days=gpu_hours_to_days(gpu_hours, gpus),
                  usd=gpu_hours_to_usd(gpu_hours, acc), accelerator=acc.name, mfu=mfu, given=given,
                  usd_per_gpu_hour=acc.usd_per_hour, price_date=acc.price_date)


# --- free-text budgets -----------------------------------------------------------------------------

_NUM = r"(\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?)(?:\s*(k|thousand|mn|million|m|bn|billion|b|trillion|t)\b)?"
_DURATION_HOURS = {"hour": 1.0, "day": HOURS_PER_DAY, "week": 7 * HOURS_PER_DAY, "month": 30 * HOURS_PER_DAY}
_DURATION = r"(hour|day|week|month)s?\b"
EXAMPLES = '"512 H100 for 30 days", "$2M", "1e24 FLOPs", "3640 PF-days", "10k GPU-hours", "5 GPU-days"'


def _number(digits: str, scale: str | None) -> float:
    return float(digits.replace(",", "")) * _SCALE.get((scale or "").lower(), 1.0)


def _accelerator_pattern() -> str:
    """Any accelerator spelling, dashes optional ('TPU v5p', 'tpu-v5p', 'H100s'); longest names first."""
    names = sorted(names_and_aliases(), key=len, reverse=True)
    return "|".join(r"[\s\-_]?".join(map(re.escape, re.split(r"[\s\-_]", n))) for n in names)


def _accelerator_mention() -> str:
    """An accelerator named as a word of its own ('on H100s', not 'xH100y')."""
    return rf"(?<![\w])({_accelerator_pattern()})s?(?![\w])"


def _mentioned_accelerator(text: str) -> str | None:
    match = re.search(_accelerator_mention(), text, re.I)
    return match.group(1) if match else None


# Words around a budget that say nothing more ("about $2M on H100", "a budget of 1e24 FLOPs").
_FILLER = r"\b(?:about|approx(?:imately)?|around|roughly|a|an|the|of|on|with|using|budget|total|compute|training|" \
          r"worth|for|in|at)\b"


def _nothing_else(s: str, match: re.Match, text: str) -> None:
    """Refuse a budget with more in it than the quantity read, an accelerator and filler words: '$2MM' read as $2,
    '1e24 FLOPs for 3 days' with its days dropped, or '1e24 FLOPs $5' priced at $5 would each plan a wrong run."""
    rest = s[:match.start()] + " " + s[match.end():]
    rest = re.sub(_accelerator_mention(), " ", rest, flags=re.I)
    rest = re.sub(_FILLER, " ", rest, flags=re.I)
    if re.search(r"[^\s~,.:;()\-]", rest):
        raise PlannerError(f"could not read '{' '.join(rest.split())}' in the budget '{text}': write one budget, "
                           f"like {EXAMPLES}")


def parse_budget(text: str, accelerator: str = DEFAULT_ACCELERATOR, mfu: float = DEFAULT_MFU,
                 gpus: int | None = None) -> BudgetRequest:
    """Read a budget written as people write them. An accelerator named in the text wins over
    `accelerator`; `gpus` sets the wall-clock days of a budget that does not state them."""
    s = text.strip()
    if re.search(r"(?<![\w.])-\s*\$?\s*\d", s):
        raise PlannerError(f"a budget must be positive (got '{text}')")
    unit = rf"(?:gpu|chip|accelerator|{_accelerator_pattern()})s?"
    accelerator = get_accelerator(_mentioned_accelerator(s) or accelerator).name
    base = dict(accelerator=accelerator, mfu=mfu)
    if m := re.search(rf"{_NUM}\s*(?:x\s*)?{unit}\s+(?:for\s+)?{_NUM}\s*{_DURATION}", s, re.I):
        _nothing_else(s, m, text)
        hours = _number(m[3], m[4]) * _DURATION_HOURS[m[5].lower()]
        return BudgetRequest(gpus=check_gpus(_number(m[1], m[2])), days=hours / HOURS_PER_DAY, **base)
    if m := re.search(rf"{_NUM}\s*{unit}[\s\-]?(hours?|hrs?|h|days?)\b", s, re.I):
        _nothing_else(s, m, text)
        amount = _number(m[1], m[2])
        key = "gpu_days" if m[3].lower().startswith("d") else "gpu_hours"
        return BudgetRequest(**{key: amount}, gpus=gpus, **base)
    if m := re.search(rf"\$\s*{_NUM}|{_NUM}\s*(?:usd|dollars?)\b", s, re.I):
        _nothing_else(s, m, text)
        digits, scale = (m[1], m[2]) if m[1] else (m[3], m[4])
        return BudgetRequest(usd=_number(digits, scale), gpus=gpus, **base)
    if m := re.search(rf"{_NUM}\s*pf[\s\-]?days?\b", s, re.I):
        _nothing_else(s, m, text)
        return BudgetRequest(flops=_number(m[1], m[2]) * PF_DAY, gpus=gpus, **base)
    if m := (re.search(rf"{_NUM}\s*flops?\b", s, re.I) or re.fullmatch(_NUM, s, re.I)):
        _nothing_else(s, m, text)
        return BudgetRequest(flops=_number(m[1], m[2]), gpus=gpus, **base)
    raise PlannerError(f"could not read the budget '{text}'; write it like {EXAMPLES}")
