"""Small one-dimensional solvers shared by the recipe modules (pure numpy: scipy's import alone costs more
than the 50 ms a planner call may take)."""
from __future__ import annotations

import math
from typing import Callable

from planner.core.laws import FLOPS_PER_PARAM_TOKEN, ChinchillaLaw, DataConstrainedLaw
from planner.errors import PlannerError

GOLDEN = (math.sqrt(5) - 1) / 2


def bisect_log(f: Callable[[float], float], low: float, high: float, iters: int = 60) -> float:
    """x in [low, high] (both > 0) where the monotonic f changes sign, bisected in log space."""
    lo, hi = math.log(low), math.log(high)
    f_lo = f(low)
    for _ in range(iters):
        mid = (lo + hi) / 2
        if (f(math.exp(mid)) > 0) == (f_lo > 0):
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def golden_min_log(f: Callable[[float], float], low: float, high: float, iters: int = 80) -> float:
    """Minimiser of a unimodal f on [low, high], searched in log x."""
    a, b = math.log(low), math.log(high)
    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = f(math.exp(c)), f(math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = f(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = f(math.exp(d))
    return math.exp((a + b) / 2)


def parametric(law) -> ChinchillaLaw:
    """The L(N, D) = E + A/N^alpha + B/D^beta behind a law, or a clear error for laws that have none."""
    if isinstance(law, ChinchillaLaw):
        return law
    if isinstance(law, DataConstrainedLaw):
        return law.base
    raise PlannerError(f"'{law.name}' predicts an allocation, not a loss surface L(N, D), so it cannot trade "
                       "size against tokens at equal loss; choose a parametric law such as besiroglu2024 "
                       "or hoffmann2022-unrounded")


def loss(law: ChinchillaLaw, params: float, tokens: float) -> float:
    """L(N, D) on plain floats: the solvers call it thousands of times, numpy's per-call overhead adds up."""
    return law.E + law.A / params**law.alpha + law.B / tokens**law.beta


def tokens_for_loss(law: ChinchillaLaw, params: float, loss: float) -> float:
    """Tokens at which a model of `params` reaches `loss` (inf if it never does)."""
    gap = loss - law.E - law.A / params**law.alpha
    return math.inf if gap <= 0 else (law.B / gap) ** (1 / law.beta)


def smallest_params_for_loss(law: ChinchillaLaw, loss: float) -> float:
    """Below this size no amount of data reaches `loss` (the N term alone is too large)."""
    if loss <= law.E:
        raise PlannerError(f"a loss of {loss:.4g} is at or below the law's irreducible loss E = {law.E}")
    return (law.A / (loss - law.E)) ** (1 / law.alpha)


def compute_for_optimal_loss(law: ChinchillaLaw, loss: float) -> float:
    """The compute-optimal budget whose optimum reaches `loss`: along the optimum both terms fall as C^-gamma,
    L*(C) = E + K (C/6)^-gamma with gamma = alpha beta / (alpha + beta), K = A G^-alpha + B G^beta, so it inverts
    in closed form."""
    if loss <= law.E:
        raise PlannerError(f"a loss of {loss:.4g} is at or below the law's irreducible loss E = {law.E}")
    gamma = law.alpha * law.beta / (law.alpha + law.beta)
    k = law.A * law.G**-law.alpha + law.B * law.G**law.beta
    return FLOPS_PER_PARAM_TOKEN * (k / (loss - law.E)) ** (1 / gamma)
