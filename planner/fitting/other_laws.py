"""Kaplan et al. 2020 power laws and the data-constrained law of Muennighoff et al. 2023, fitted with scipy
(few parameters, so a handful of starts is enough)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.fitting import parametric
from planner.core.laws import FLOPS_PER_PARAM_TOKEN, PF_DAY, ChinchillaLaw, DataConstrainedLaw, KaplanLaw

# Muennighoff et al. 2023 base constants (their fit to Chinchilla's C4 IsoFLOP points, alpha = beta tied)
# and repetition constants; see ../shared/REFERENCE.md and huggingface/datablations utils/parametric_fit.ipynb.
MUENNIGHOFF = dict(E=math.exp(0.6254804), A=math.exp(6.255414), B=math.exp(7.3049974), alpha=0.3526596,
                   beta=0.3526596, R_D_star=15.387756, R_N_star=5.309743)
MUENNIGHOFF_CITATION = "Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models' (eq. 5; App. fits)"


def _kaplan_log_loss(theta, log_n, log_d):
    """ln L for L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D; theta = (ln N_c, ln D_c, alpha_N, alpha_D)."""
    log_nc, log_dc, alpha_n, alpha_d = theta
    return alpha_d * np.logaddexp(alpha_n / alpha_d * (log_nc - log_n), log_dc - log_d)


def _power(log_x, log_loss, weights=None):
    """L = (X_c / X)^alpha by least squares in log space: (X_c, alpha)."""
    slope, intercept = np.polyfit(log_x, log_loss, 1, w=None if weights is None else np.sqrt(weights))
    alpha = -slope
    if alpha <= 0 or intercept / alpha > 700:  # no falling power law (or a scale past 1e300): none
        return float("nan"), float(alpha)
    return float(np.exp(intercept / alpha)), float(alpha)


def fit_kaplan(pts: pd.DataFrame, loss: str = "huber", delta: float = 1e-3, weights=None, start=None) -> dict:
    from scipy.optimize import least_squares

    if pts["params"].nunique() < 2 or pts["tokens"].nunique() < 2:
        raise PlannerError("Kaplan's L(N, D) needs at least two model sizes and two token counts")
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, float)
    log_n, log_d, log_l = (np.log(pts[c].to_numpy()) for c in ("params", "tokens", "loss"))
    sw = np.sqrt(w)
    starts = [[math.log(6.4e13), math.log(1.8e13), 0.076, 0.103], [math.log(1e12), math.log(1e11), 0.3, 0.3],
              [math.log(1e15), math.log(1e14), 0.05, 0.05]]
    if start is not None:
        starts = [[math.log(start["N_c"]), math.log(start["D_c"]), start["alpha_N"], start["alpha_D"]]]
    best = None
    for s in starts:
        res = least_squares(lambda th: sw * (_kaplan_log_loss(th, log_n, log_d) - log_l), s,
                            loss="huber" if loss == "huber" else "linear", f_scale=delta,
                            bounds=([-np.inf, -np.inf, 1e-4, 1e-4], [np.inf, np.inf, 5, 5]))
        if best is None or res.cost < best.cost:
            best = res
    log_nc, log_dc, alpha_n, alpha_d = best.x
    if max(log_nc, log_dc) > 700:  # exp would overflow: the scales ran off to infinity, there is no law here
        raise PlannerError("Kaplan's L(N, D) has no finite fit on these runs: its scales N_c, D_c run off past "
                           "1e300 (the loss hardly changes with N or D)")
    frame = pts.assign(_w=w)
    by_n = frame[frame._w > 0].groupby("params")["loss"].min()
    by_d = frame[frame._w > 0].assign(d=frame["tokens"].round(-3)).groupby("d")["loss"].min()
    nc_only, an_only = _power(np.log(by_n.index.to_numpy(float)), np.log(by_n.to_numpy())) if len(by_n) > 1 else (float("nan"),) * 2
    dc_only, ad_only = _power(np.log(by_d.index.to_numpy(float)), np.log(by_d.to_numpy())) if len(by_d) > 1 else (float("nan"),) * 2
    # At fixed C = 6ND, L(N, D) is smallest at N ∝ C^a with a = alpha_D / (alpha_N + alpha_D).
    a = alpha_d / (alpha_n + alpha_d)
    return dict(N_c=float(np.exp(log_nc)), D_c=float(np.exp(log_dc)), alpha_N=float(alpha_n), alpha_D=float(alpha_d),
                N_c_only=nc_only, alpha_N_only=an_only, D_c_only=dc_only, alpha_D_only=ad_only, a=float(a), b=float(1 - a))


def kaplan_optimal_k(fit: dict) -> float:
    """k in N_opt = k C^a for the fitted L(N, D): d/dN [(N_c/N)^p + 6 D_c N / C] = 0 with p = alpha_N/alpha_D."""
    p = fit["alpha_N"] / fit["alpha_D"]
    return (p * fit["N_c"] ** p / (FLOPS_PER_PARAM_TOKEN * fit["D_c"])) ** (1 / (p + 1))


def kaplan_law(fit: dict, name: str = "fitted", citation: str = "fitted by scaleplan (Kaplan form)") -> KaplanLaw:
    a = fit["a"]
    return KaplanLaw(name=name, citation=citation, N_c=fit["N_c"], D_c=fit["D_c"], alpha_N=fit["alpha_N"],
                     alpha_D=fit["alpha_D"], a=a, k_params_pfday=kaplan_optimal_k(fit) * PF_DAY**a,
                     note="fitted L(N, D); L(C) constants are the published ones")


def data_constrained_law(fit: dict, name: str = "fitted", citation: str = "fitted by scaleplan (data-constrained)"):
    keys = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    return DataConstrainedLaw(name=name, citation=citation, **{k: fit[k] for k in keys})


def _base_law(pts: pd.DataFrame, opt) -> tuple[ChinchillaLaw, str]:
    """Stage 1: E, A, B, alpha, beta from single-epoch runs (Approach 3), else Muennighoff's published base."""
    single = pts[pts["tokens"] <= pts["unique_tokens"] * 1.0001]
    if opt.dc_base == "fit" and len(single) >= 10 and single["params"].nunique() >= 3:
        x, y, t = (np.log(single[c].to_numpy()) for c in ("params", "tokens", "loss"))
        theta, _, _ = parametric.fit_parametric(x, y, t, delta=opt.delta)
        a, b, e, alpha, beta = theta
        if alpha > 0 and beta > 0:
            return ChinchillaLaw(name="base", citation="", E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha,
                                 beta=beta), f"Approach 3 on the {len(single)} single-epoch runs"
    base = MUENNIGHOFF
    return (ChinchillaLaw(name="base", citation="", **{k: base[k] for k in ("E", "A", "B", "alpha", "beta")}),
            "Muennighoff et al. 2023 published base constants (fitted to Chinchilla's C4 IsoFLOP points)")


def fit_data_constrained(pts: pd.DataFrame, opt) -> tuple[dict, str]:
    """Stage 2: with the base law fixed, R_D* and R_N* by Huber on log loss from a small grid of starts."""
    from scipy.optimize import minimize

    base, source = _base_law(pts, opt)
    law = DataConstrainedLaw(**base.model_dump(exclude={"family"}), R_D_star=1.0, R_N_star=1.0)
    u_n, r_n, u_d, r_d = law.repetitions(*(pts[c].to_numpy(float) for c in ("params", "tokens", "unique_tokens")))
    log_l = np.log(pts["loss"].to_numpy(float))

    def objective(log_r):
        n_eff, d_eff = law.discounted(u_n, r_n, math.exp(log_r[1])), law.discounted(u_d, r_d, math.exp(log_r[0]))
        pred = np.log(base.E + base.A / n_eff**base.alpha + base.B / d_eff**base.beta)
        return float(parametric.huber(pred - log_l, opt.delta).sum())

    best = min((minimize(objective, [math.log(rd), math.log(rn)], method="L-BFGS-B", bounds=[(-5, 8), (-5, 8)])
                for rd in (1.0, 5.0, 20.0) for rn in (1.0, 5.0, 20.0)), key=lambda r: r.fun)
    fit = dict(E=base.E, A=base.A, B=base.B, alpha=base.alpha, beta=base.beta, R_D_star=float(math.exp(best.x[0])),
               R_N_star=float(math.exp(best.x[1])), objective=float(best.fun))
    return fit, source
