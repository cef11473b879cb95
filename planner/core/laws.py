"""Scaling-law families and the published presets.

Every law answers the same questions: `loss(params, tokens)` and `optimal(flops)`, plus the
compute-optimal tokens for a fixed model size, the optimal size for a fixed token count, and the
loss along an IsoFLOP curve. Compute is `C = 6 N D` throughout (Kaplan et al. 2020, §2.1).
All published constants live in `PRESETS` below, each with its citation.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, Field, TypeAdapter

from planner.core.numbers import check_positive
from planner.core.settings import DATA_TABLES, data_dir
from planner.errors import PlannerError

FLOPS_PER_PARAM_TOKEN = 6.0  # forward 2ND + backward 4ND
PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day
MIN_PARAMS = 1e5  # ~ one layer of width 64 over a byte vocabulary: below it the budget is "too small for any model"


class Allocation(BaseModel):
    """A compute-optimal (or fixed) split of a FLOP budget into model size and tokens."""

    law: str
    flops: float
    params: float
    tokens: float
    tokens_per_param: float
    loss: float = Field(description="predicted loss (nats/token) at this allocation")
    loss_note: str = ""
    warning: str = Field(default="", description="why this law's answer should not be trusted as is")


# Budgets past this are refused: over 10,000 x the 3.8e25 FLOPs of Llama 3.1 405B's pre-training (Dubey et al. 2024,
# Table 1), the largest run with published compute, and 7+ orders past the runs any law here was fitted on.
# Without a bound, a typo like 1e60 planned 3e38 GPUs (and the shape search ran for minutes).
MAX_FLOPS = 1e30


def check_flops(flops: float) -> float:
    if isinstance(flops, (int, float)) and flops > MAX_FLOPS:  # infinity included: too large, not malformed
        raise PlannerError(f"a compute budget of {flops:.3g} FLOPs is past {MAX_FLOPS:.0e}, over 10,000 times the "
                           "largest training run with published compute (Llama 3.1 405B, 3.8e25): no scaling law "
                           "speaks to it")
    return check_positive("compute budget", flops, "FLOPs")


def _positive(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        raise PlannerError(f"{name} must be positive and finite (got {value!r})")
    return arr


def _scalar(x):
    """Return a Python float for scalar input, the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


class _LawBase(BaseModel):
    name: str
    citation: str
    note: str = ""
    warning: str = ""

    def allocation(self, flops: float, params: float, tokens: float, loss_note: str = "", given: str = "") -> Allocation:
        """`given` names what the user fixed (default: the budget), for the message when no model is that small."""
        if params < MIN_PARAMS:
            raise PlannerError(
                f"{given or f'a budget of {flops:.3g} FLOPs'} is too small for any model: the optimum under "
                f"{self.name} has {params:.3g} parameters (fewer than {MIN_PARAMS:.0e}, about the smallest "
                "transformer); raise it")
        return Allocation(law=self.name, flops=flops, params=params, tokens=tokens,
                          tokens_per_param=tokens / params, loss=float(self.loss(params, tokens)),
                          loss_note=loss_note, warning=self.warning)

    def isoflop_loss(self, flops: float, params):
        """Loss of models of size `params` each trained on the tokens that `flops` buys."""
        flops = check_flops(flops)
        n = _positive("params", params)
        return _scalar(self.loss(n, flops / (FLOPS_PER_PARAM_TOKEN * n)))

    def optimal_tokens(self, params: float) -> float:
        """Tokens for which a model of `params` parameters is the compute-optimal size."""
        raise NotImplementedError

    def optimal_for_params(self, params: float) -> Allocation:
        """The compute-optimal run of a model whose size is fixed (tokens and FLOPs follow)."""
        tokens = self.optimal_tokens(params)
        return self.allocation(FLOPS_PER_PARAM_TOKEN * params * tokens, float(params), tokens,
                               given=f"a fixed size of {params:.3g} parameters")

    def optimal_for_tokens(self, tokens: float) -> Allocation:
        """The compute-optimal run for a fixed amount of data (size and FLOPs follow)."""
        params = self.optimal_params(tokens)
        return self.allocation(FLOPS_PER_PARAM_TOKEN * params * tokens, params, float(tokens),
                               given=f"a fixed {tokens:.3g} tokens")

    def optima(self, budgets) -> list[Allocation]:
        """The optimum at each budget this law can size: a budget too small for any model (the low end of a
        chart's range around a small budget) is left out rather than failing the chart."""
        found = []
        for flops in budgets:
            try:
                found.append(self.optimal(float(flops)))
            except PlannerError:
                continue
        return found

    def optimal_params(self, tokens: float) -> float:
        """Model size for which `tokens` is the compute-optimal token count."""
        raise NotImplementedError


class ChinchillaLaw(_LawBase):
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, eq. 2)."""

    family: Literal["chinchilla"] = "chinchilla"
    E: float = Field(gt=0)
    A: float = Field(gt=0)
    B: float = Field(gt=0)
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)

    @property
    def a(self) -> float:
        """Exponent of N_opt ∝ C^a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ∝ C^b."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))

    def loss(self, params, tokens):
        n, d = _positive("params", params), _positive("tokens", tokens)
        return _scalar(self.E + self.A / n**self.alpha + self.B / d**self.beta)

    def optimal(self, flops: float) -> Allocation:
        # Closed form: minimise L subject to 6ND = C (Hoffmann et al. 2022, App. D.2 eq. 4).
        c6 = check_flops(flops) / FLOPS_PER_PARAM_TOKEN
        return self.allocation(flops, self.G * c6**self.a, c6**self.b / self.G)

    def optimal_tokens(self, params: float) -> float:
        c6 = (float(_positive("params", params)) / self.G) ** (1 / self.a)
        return c6 / params

    def optimal_params(self, tokens: float) -> float:
        c6 = (float(_positive("tokens", tokens)) * self.G) ** (1 / self.b)
        return c6 / tokens


class PowerLawAllocation(_LawBase):
    """N_opt = k_N C^a, D_opt = C / (6 N_opt): Hoffmann's Approaches 1 and 2 (power-law fits, no loss form).

    These approaches predict the allocation only; the loss shown is the companion parametric law's
    (`loss_law`) evaluated at that allocation, and every result says so.
    """

    family: Literal["power"] = "power"
    k_params: float = Field(gt=0, description="N_opt = k_params * C^a (C in FLOPs)")
    a: float = Field(gt=0, lt=1)
    loss_law: ChinchillaLaw

    @property
    def b(self) -> float:
        return 1.0 - self.a

    def loss(self, params, tokens):
        return self.loss_law.loss(params, tokens)

    def optimal(self, flops: float) -> Allocation:
        flops = check_flops(flops)
        n = self.k_params * flops**self.a
        return self.allocation(flops, n, flops / (FLOPS_PER_PARAM_TOKEN * n),
                               loss_note=f"loss from {self.loss_law.name} at this allocation")

    def optimal_tokens(self, params: float) -> float:
        flops = (float(_positive("params", params)) / self.k_params) ** (1 / self.a)
        return flops / (FLOPS_PER_PARAM_TOKEN * params)

    def optimal_params(self, tokens: float) -> float:
        # N = k C^a with C = 6 N D  =>  N^(1-a) = k (6 D)^a
        d6 = FLOPS_PER_PARAM_TOKEN * float(_positive("tokens", tokens))
        return (self.k_params * d6**self.a) ** (1 / (1 - self.a))


class KaplanLaw(_LawBase):
    """Kaplan et al. 2020: L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D, N non-embedding.

    Compute-optimal size N_opt = 1.3e9 * C^0.73 with C in PF-days (their eq. 6.1 / Fig. 14); losses are
    nats/token on WebText2 with the GPT-2 tokenizer, so not comparable in level with Chinchilla's.
    """

    family: Literal["kaplan"] = "kaplan"
    N_c: float = 6.4e13
    D_c: float = 1.8e13
    alpha_N: float = 0.076
    alpha_D: float = 0.103
    k_params_pfday: float = 1.3e9
    a: float = 0.73
    C_c_pfday: float = 3.1e8
    alpha_C: float = 0.050

    @property
    def b(self) -> float:
        return 1.0 - self.a

    def loss(self, params, tokens):
        n, d = _positive("params", params), _positive("tokens", tokens)
        return _scalar(((self.N_c / n) ** (self.alpha_N / self.alpha_D) + self.D_c / d) ** self.alpha_D)

    def loss_of_params(self, params):
        """L(N) = (N_c/N)^alpha_N with the infinite-data constants N_c = 8.8e13, alpha_N = 0.076."""
        return _scalar((8.8e13 / _positive("params", params)) ** 0.076)

    def loss_of_tokens(self, tokens):
        """L(D) = (D_c/D)^alpha_D with D_c = 5.4e13, alpha_D = 0.095 (early-stopped large models)."""
        return _scalar((5.4e13 / _positive("tokens", tokens)) ** 0.095)

    def loss_of_compute(self, flops):
        """L(C_min) = (C_c / C_min)^0.050, C in PF-days."""
        return _scalar((self.C_c_pfday / (_positive("flops", flops) / PF_DAY)) ** self.alpha_C)

    def optimal(self, flops: float) -> Allocation:
        flops = check_flops(flops)
        n = self.k_params_pfday * (flops / PF_DAY) ** self.a
        return self.allocation(flops, n, flops / (FLOPS_PER_PARAM_TOKEN * n),
                               loss_note="L(N, D) at the allocation; N counts non-embedding parameters")

    def optimal_tokens(self, params: float) -> float:
        flops = PF_DAY * (float(_positive("params", params)) / self.k_params_pfday) ** (1 / self.a)
        return flops / (FLOPS_PER_PARAM_TOKEN * params)

    def optimal_params(self, tokens: float) -> float:
        d6 = FLOPS_PER_PARAM_TOKEN * float(_positive("tokens", tokens)) / PF_DAY
        return (self.k_params_pfday * d6**self.a) ** (1 / (1 - self.a))


class DataConstrainedLaw(_LawBase):
    """Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', eq. 5:
    L = E + A / N'^alpha + B / D'^beta, where repeated tokens and excess parameters are worth less:
    D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)), R_D = D / U_D - 1 (epochs beyond the first), and
    N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)), U_N = min(N, compute-optimal N for U_D), R_N = N / U_N - 1.
    With no repetition and N no larger than the compute-optimal size for the data it is the Chinchilla
    law of its base constants; its allocation is that law's (the planner does not know the unique-data
    budget). Fitted: planner.fitting (data-constrained method).
    """

    family: Literal["data_constrained"] = "data_constrained"
    E: float = Field(gt=0)
    A: float = Field(gt=0)
    B: float = Field(gt=0)
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)
    R_D_star: float = Field(gt=0, description="repeated epochs after which extra data is worth 1 - 1/e less")
    R_N_star: float = Field(gt=0, description="the same for parameters beyond U_N")

    @property
    def base(self) -> ChinchillaLaw:
        return ChinchillaLaw(name=self.name, citation=self.citation, E=self.E, A=self.A, B=self.B,
                             alpha=self.alpha, beta=self.beta)

    @property
    def a(self) -> float:
        return self.base.a

    @property
    def b(self) -> float:
        return self.base.b

    def repetitions(self, params, tokens, unique_tokens):
        """(U_N, R_N, U_D, R_D): unique parameters and tokens and how often each is repeated beyond once."""
        n, d = _positive("params", params), _positive("tokens", tokens)
        u_d = np.minimum(_positive("unique_tokens", unique_tokens), d)
        u_n = np.minimum(n, self.base.G * ((u_d * self.base.G) ** (1 / self.base.b)) ** self.base.a)
        return u_n, n / u_n - 1, u_d, d / u_d - 1

    @staticmethod
    def discounted(unique, repeats, r_star):
        """U + U R* (1 - exp(-R / R*)): repeats are worth less and less, never more than R* extra copies."""
        return unique + unique * r_star * (1 - np.exp(-repeats / r_star))

    def effective(self, params, tokens, unique_tokens):
        """(N', D'): parameters and tokens discounted for repetition."""
        u_n, r_n, u_d, r_d = self.repetitions(params, tokens, unique_tokens)
        return self.discounted(u_n, r_n, self.R_N_star), self.discounted(u_d, r_d, self.R_D_star)

    def loss(self, params, tokens, unique_tokens=None):
        unique_tokens = tokens if unique_tokens is None else unique_tokens
        n_eff, d_eff = self.effective(params, tokens, unique_tokens)
        return _scalar(self.E + self.A / n_eff**self.alpha + self.B / d_eff**self.beta)

    def optimal(self, flops: float) -> Allocation:
        alloc = self.base.optimal(flops)
        return alloc.model_copy(update={"law": self.name, "loss_note": "assumes every token is unique"})

    def optimal_tokens(self, params: float) -> float:
        return self.base.optimal_tokens(params)

    def optimal_params(self, tokens: float) -> float:
        return self.base.optimal_params(tokens)


Law = Annotated[Union[ChinchillaLaw, PowerLawAllocation, KaplanLaw, DataConstrainedLaw],
                Field(discriminator="family")]
LAW_ADAPTER: TypeAdapter = TypeAdapter(Law)

# --- Published presets ---------------------------------------------------------------------------

HOFFMANN = "Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models'"

_HOFFMANN_APPROACH3 = ChinchillaLaw(
    name="hoffmann2022", E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
    citation=f"{HOFFMANN}, Approach 3, App. D.2 (rounded constants)",
    warning="the rounded Approach-3 constants do not reproduce Hoffmann's own tables (at 5.76e23 FLOPs they "
            "give ~32B params on ~3T tokens where Table 3 has 67B on 1.5T; Besiroglu et al. 2024): use "
            "besiroglu2024 or hoffmann2022-approach1")


def hoffmann_table(table: str) -> list[tuple[float, float, float]]:
    """(params, FLOPs, tokens) rows of Hoffmann et al. 2022 Table 3 (Approach 1) or Table A3 (Approach 2),
    as printed; data/hoffmann2022_tables.csv cites each row."""
    with (DATA_TABLES / "hoffmann2022_tables.csv").open(newline="") as f:
        return [(float(r["params"]), float(r["flops"]), float(r["tokens"]))
                for r in csv.DictReader(f) if r["table"] == table]


def _table_k_params(table: str) -> tuple[float, float]:
    """Least-squares fit, in log space, of N_opt = k C^a to the rows of one of Hoffmann's tables.

    The paper publishes the exponents (Table 2) and these tables, not the coefficients, so coefficient
    and exponent are read off the table itself.
    """
    rows = np.log(np.array(hoffmann_table(table)))
    a, log_k = np.polyfit(rows[:, 1], rows[:, 0], 1)
    return float(math.exp(log_k)), float(a)


_k1, _a1 = _table_k_params("3")
_k2, _a2 = _table_k_params("A3")

PRESETS: dict[str, ChinchillaLaw | PowerLawAllocation | KaplanLaw] = {
    law.name: law
    for law in [
        _HOFFMANN_APPROACH3,
        ChinchillaLaw(
            name="hoffmann2022-unrounded", E=1.69337368, A=406.401018, B=410.722827,
            alpha=0.33917084, beta=0.2849083,
            citation=f"{HOFFMANN}, Approach 3 (unrounded values from the TeX source)"),
        ChinchillaLaw(
            name="besiroglu2024", E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
            citation="Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt'",
            note="the default: a full L(N, D) whose optimum lands within 15% of every row of Hoffmann's "
                 "Table 3 up to 1T params"),
        PowerLawAllocation(
            name="hoffmann2022-approach1", k_params=_k1, a=_a1, loss_law=_HOFFMANN_APPROACH3,
            citation=f"{HOFFMANN}, Approach 1 (Table 2: a = b = 0.50; coefficient fitted to Table 3)"),
        PowerLawAllocation(
            name="hoffmann2022-approach2", k_params=_k2, a=_a2, loss_law=_HOFFMANN_APPROACH3,
            citation=f"{HOFFMANN}, Approach 2 (Table 2: a = 0.49, b = 0.51; k and a fitted to the "
                     "Approach-2 rows of Table A3, App. D.3)"),
        KaplanLaw(
            name="kaplan2020",
            citation="Kaplan et al. 2020, 'Scaling Laws for Neural Language Models' (eq. 1.5, 6.1)",
            note="N counts non-embedding parameters; loss on WebText2, not comparable in level"),
    ]
}
# Besiroglu et al.'s replication (their Table 1 / eq. 2) rather than the rounded Approach-3 constants: it is a
# complete L(N, D) (inference-aware sizing and the over-training trade-off need a loss surface whose minimum
# is the allocation) and it agrees with Hoffmann's Table 3 (tests/core/test_laws.py checks every row).
DEFAULT_LAW = "besiroglu2024"

# --- Saved (fitted) laws ---------------------------------------------------------------------------


def saved_laws_dir() -> Path:
    path = data_dir() / "laws"
    path.mkdir(parents=True, exist_ok=True)
    return path


LAW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def law_path(name: str, replace: bool = False) -> Path:
    """Where a fitted law called `name` is stored, once the name is allowed; an existing saved law of that name is
    replaced only when asked (a second fit saved under the same name silently lost the first)."""
    if not LAW_NAME.fullmatch(name):  # the name becomes a file name: no paths, no empty names
        raise PlannerError(f"law name '{name}' is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
    if name in PRESETS:
        raise PlannerError(f"'{name}' is a published preset; save the fitted law under another name")
    path = saved_laws_dir() / f"{name}.json"
    if path.exists() and not replace:
        raise PlannerError(f"a law named '{name}' is already saved: choose another name, or replace it (Fit page: "
                           "'Replace a saved law of this name'; CLI: --replace)")
    return path


def save_law(law: ChinchillaLaw | PowerLawAllocation | KaplanLaw, replace: bool = False) -> Path:
    """Store a (fitted) law so the Plan page and the CLI can pick it like a preset."""
    path = law_path(law.name, replace)
    try:
        path.write_text(law.model_dump_json(indent=2))
    except OSError as err:  # full disk, read-only state directory: one clear line, not a traceback
        raise PlannerError(f"cannot save the law to {path}: {err.strerror or err}; free space or make the "
                           "state directory writable") from err
    return path


def saved_laws() -> dict[str, ChinchillaLaw | PowerLawAllocation | KaplanLaw]:
    laws = {}
    for path in sorted((data_dir() / "laws").glob("*.json")):  # a read: creates nothing (read-only disk)
        try:
            law = LAW_ADAPTER.validate_python(json.loads(path.read_text()))
        except (ValueError, OSError):
            continue  # a hand-edited or half-written file must not break the planner
        if LAW_NAME.fullmatch(law.name) and law.name not in PRESETS:
            laws[law.name] = law
    return laws


def all_laws() -> dict[str, ChinchillaLaw | PowerLawAllocation | KaplanLaw]:
    return {**PRESETS, **saved_laws()}


def get_law(name: str) -> ChinchillaLaw | PowerLawAllocation | KaplanLaw:
    laws = all_laws()
    if name not in laws:
        raise PlannerError(f"unknown law '{name}'; choose one of: {', '.join(laws)}")
    return laws[name]


class LawSummary(BaseModel):
    name: str
    family: str
    citation: str
    a: float = Field(description="exponent of N_opt ∝ C^a")
    b: float = Field(description="exponent of D_opt ∝ C^b")
    saved: bool = False
    note: str = ""


def list_laws() -> list[LawSummary]:
    saved = saved_laws()
    return [LawSummary(name=law.name, family=law.family, citation=law.citation, a=law.a, b=law.b,
                       saved=law.name in saved, note=law.note)
            for law in all_laws().values()]
