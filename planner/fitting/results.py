"""Inputs and results of the fits (pydantic): what the CLI prints with --json and the Fit page draws."""
from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from planner.core import format as fmt
from planner.errors import PlannerError
from planner.core.laws import PF_DAY
from planner.core.numbers import parse_count  # the one parser of counts: 7e9, 1.4T, 70,000,000
from planner.fitting.parametric import HUBER_DELTA
from planner.fitting.runs import WARMUP_FRACTION
from planner.fitting.uploads import DroppedRows

Method = Literal["approach1", "approach2", "approach3", "kaplan", "data_constrained"]
METHODS: dict[str, str] = {
    "approach1": "Approach 1: lowest loss at each compute (envelope of the curves), N_opt ∝ C^a",
    "approach2": "Approach 2: IsoFLOP parabolas, N_opt ∝ C^a",
    "approach3": "Approach 3: parametric L = E + A/N^α + B/D^β (Huber, multi-start L-BFGS)",
    "kaplan": "Kaplan et al. 2020: L(N, D), L(N) and L(D) power laws",
    "data_constrained": "Muennighoff et al. 2023: repeated data (needs unique_tokens)",
}


MIN_BOOTSTRAP = 20  # the 2.5th and 97.5th percentiles of fewer resamples are the extremes, not an interval


class StartGrid(BaseModel):
    """Approach-3 starting points: every combination (Hoffmann et al. 2022: 6 x 6 x 5 x 5 x 5 = 4,500)."""

    alpha: list[float] = [0.0, 0.5, 1.0, 1.5, 2.0]
    beta: list[float] = [0.0, 0.5, 1.0, 1.5, 2.0]
    e: list[float] = [-1.0, -0.5, 0.0, 0.5, 1.0]
    a: list[float] = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    b: list[float] = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]

    @field_validator("alpha", "beta", "e", "a", "b")
    @classmethod
    def _non_empty(cls, v):
        if not v or not all(np.isfinite(v)):
            raise ValueError("each grid axis needs at least one finite value")
        return v

    @property
    def size(self) -> int:
        return len(self.alpha) * len(self.beta) * len(self.e) * len(self.a) * len(self.b)


FLOPS_EXAMPLES = "1e21, 1e21 FLOPs, 3.2e22 or 5e3 PF-days"


def parse_target_flops(text: str | None) -> float | None:
    """'1e21', '1e21 FLOPs', '3.2e22', '1,000T', '5e3 PF-days' -> FLOPs; '' -> None (no target)."""
    s = (text or "").strip()
    if not s:
        return None
    unit = 1.0
    if m := re.fullmatch(r"(.*?)\s*(pf[\s-]?days?|flops?|flop/s)", s, re.I):
        s, unit = m[1], PF_DAY if m[2].lower().startswith("pf") else 1.0
    try:
        value = parse_count(s) * unit
    except PlannerError:
        value = None
    if value is None or not math.isfinite(value):
        raise PlannerError(f"target budget '{text}' is not a positive, finite number of FLOPs; "
                           f"write it like {FLOPS_EXAMPLES}")
    return value


class FitOptions(BaseModel):
    method: Method = "approach3"
    points: Literal["final", "all", "envelope"] = Field(
        "final", description="each run's last evaluation (default), every point after warmup, or the lower "
                             "envelope of each model size's runs")
    solver: Literal["varpro", "hoffmann"] = Field(
        "varpro", description="Approach 3: variable projection (E, A, B solved exactly for each alpha, beta) or "
                              "Hoffmann's 4,500-start grid; both minimise the same objective")
    overestimate_penalty: float = Field(1.0, ge=1, le=1000, description=(
        "Approach 3: weight on points the law predicts above their loss (>1 for envelope fits)"))
    warmup_fraction: float = Field(WARMUP_FRACTION, ge=0, lt=1, description="with all/envelope points: drop points before "
                                   "this fraction of each run's tokens (warmup)")
    compare: bool = Field(True, description="also fit the other applicable approaches (method comparison, trust)")
    loss: Literal["huber", "squared"] = Field("huber", description="Approach 3 / Kaplan objective on log loss")
    delta: float = Field(HUBER_DELTA, gt=0, le=1, description="Huber delta on log loss (Hoffmann: 1e-3; past 1 it "
                                                            "is the squared loss, and 1e300 overflowed the solver)")
    grid: StartGrid = StartGrid()
    bootstrap: int = Field(0, ge=0, le=10_000, description=f"bootstrap resamples (0: none; at least "
                                                           f"{MIN_BOOTSTRAP} for a 95% interval)")
    seed: int = 0
    resample: Literal["runs", "points"] = "runs"
    target_flops: float | None = Field(None, gt=0, allow_inf_nan=False,
                                       description="report the optimum at this budget (FLOPs)")
    budgets: list[float] | None = Field(None, description="Approach 2 IsoFLOP budgets (default: found in the data)")
    dc_base: Literal["fit", "muennighoff2023"] = Field(
        "fit", description="data-constrained base law: fitted on single-epoch runs, or the published one")
    holdout_fraction: float = Field(0.2, ge=0, lt=1, description="share of runs (largest first) held out")

    @field_validator("bootstrap")
    @classmethod
    def _enough_resamples(cls, value: int) -> int:
        # 1 or 2 resamples printed a "95%" interval of zero width that missed the estimate
        if 0 < value < MIN_BOOTSTRAP:
            raise PlannerError(f"a 95% interval needs at least {MIN_BOOTSTRAP} bootstrap resamples (got {value}); "
                               "use 0 for none")
        return value


class Interval(BaseModel):
    low: float
    high: float
    median: float
    level: float = 0.95


class Optimum(BaseModel):
    flops: float
    params: float
    tokens: float
    loss: float | None = None

    def summary(self) -> str:
        """'At 1e+21 FLOPs: 1.68B parameters on 99.2B tokens, predicted loss 2.871'."""
        text = f"At {self.flops:.3g} FLOPs: {fmt.count(self.params)} parameters on {fmt.count(self.tokens)} tokens"
        return text + (f", predicted loss {self.loss:.3f}" if self.loss is not None else "")


class Residual(BaseModel):
    run: str
    params: float
    tokens: float
    flops: float
    loss: float
    predicted: float
    residual_log: float = Field(description="log(predicted) - log(observed)")


class Diagnostics(BaseModel):
    rmse_log: float = Field(description="root mean square of log(predicted / observed) over the points used")
    residuals: list[Residual] = []
    heldout_runs: list[str] = []
    heldout_rmse_log: float | None = Field(None, description="refit without the largest runs, error on them")
    refit_rmse_log: float | None = Field(None, description="that refit's error on the runs it was fitted to")


Verdict = Literal["ok", "caution", "unreliable"]


class TrustWarning(BaseModel):
    """One reason to doubt a fit: what was found, what to do, and why it matters (the page's tooltip)."""

    code: str
    severity: Literal["caution", "unreliable"]
    text: str
    advice: str = ""
    explanation: str = ""


class MethodRow(BaseModel):
    """One approach fitted to the same runs, for the side-by-side comparison."""

    method: Method
    a: float | None = None
    b: float | None = None
    params_opt: float | None = None
    tokens_opt: float | None = None
    error: str | None = Field(None, description="why this approach could not be fitted to these runs")
    comparable: bool = Field(True, description="counted in the disagreement check (Approach 2: only with at least "
                                               "3 budgets that have an interior minimum among 5 or more points)")


class FitBase(BaseModel):
    method: Method
    n_points: int
    n_runs: int
    a: float | None = Field(None, description="exponent of N_opt ∝ C^a")
    b: float | None = Field(None, description="exponent of D_opt ∝ C^b")
    optimum: Optimum | None = None
    ci: dict[str, Interval] | None = None
    bootstrap_samples: dict[str, list[float]] | None = None
    diagnostics: Diagnostics | None = None
    rows_dropped: int = Field(0, description="rows of the upload that could not be used (listed in dropped)")
    dropped: list[DroppedRows] = Field([], description="unusable rows of each file, by reason")
    notes: list[str] = []
    verdict: Verdict = Field("ok", description="ok, caution or unreliable: how far to trust this fit")
    warnings: list[str] = Field([], description="the reasons for the verdict, one sentence each")
    trust: list[TrustWarning] = Field([], description="each warning with its advice and explanation")
    comparison: list[MethodRow] = Field([], description="every applicable approach on the same runs")
    extrapolation_orders: float | None = Field(
        None, description="log10(target budget / largest run's compute): how far the optimum is extrapolated")
    prediction: dict[str, Interval] | None = Field(
        None, description="95% prediction intervals at the target: loss (fit uncertainty and the scatter of "
                          "runs about the law), params_opt and tokens_opt (fit uncertainty)")
    seconds: float = Field(0.0, description="wall-clock time of this fit (with its bootstrap, without the comparison)")


class ParametricFit(FitBase):
    """Approach 3 result: L(N, D) = E + A/N^alpha + B/D^beta."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float
    delta: float
    loss_function: str
    n_starts: int


class BudgetOptimum(BaseModel):
    flops: float
    accepted: bool
    reason: str = ""
    params: list[float] = []
    losses: list[float] = []
    coefficients: list[float] = Field([], description="loss = c0 + c1 x + c2 x^2, x = ln(params)")
    params_opt: float | None = None
    tokens_opt: float | None = None
    loss_opt: float | None = None


class FrontierPoint(BaseModel):
    flops: float
    loss: float
    run: str
    params: float
    tokens: float


class AllocationFit(FitBase):
    """Approaches 1 and 2: power laws N_opt = k_params C^a and D_opt = k_tokens C^b (C in FLOPs)."""

    k_params: float
    k_tokens: float
    budgets: list[BudgetOptimum] = []
    frontier: list[FrontierPoint] = []


class KaplanFit(FitBase):
    """Kaplan et al. 2020 forms fitted by least squares on log loss."""

    N_c: float
    D_c: float
    alpha_N: float
    alpha_D: float
    N_c_only: float | None = Field(description="L(N) = (N_c/N)^alpha_N_only on each size's lowest loss; None "
                                               "where the loss does not fall with N (no such power law)")
    alpha_N_only: float | None
    D_c_only: float | None = Field(description="L(D) = (D_c/D)^alpha_D_only on each token count's lowest loss; "
                                               "None where the loss does not fall with D")
    alpha_D_only: float | None

    @field_validator("N_c_only", "alpha_N_only", "D_c_only", "alpha_D_only", mode="before")
    @classmethod
    def _undefined_is_none(cls, value):  # the fit marks "no such power law" with NaN; JSON and tables get None
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


class DataConstrainedFit(FitBase):
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    R_D_star: float
    R_N_star: float
    base_source: str
    objective: float


FitResult = ParametricFit | AllocationFit | KaplanFit | DataConstrainedFit
