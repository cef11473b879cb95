"""Approach 3: the parametric law L(N, D) = E + A/N^alpha + B/D^beta fitted by Hoffmann's procedure.

Hoffmann et al. 2022 (App. D.2) minimise the *sum* over runs of Huber_delta(LSE(a - alpha log N,
b - beta log D, e) - log L), with A, B, E = exp(a), exp(b), exp(e), by L-BFGS from every point of a
4,500-point grid and keep the best. Running scipy's L-BFGS-B 4,500 times takes about a minute, so
here every start is optimised *at once*: a batched Levenberg-Marquardt on the Huber objective
(iteratively reweighted Gauss-Newton, analytic Jacobian of the LSE), with each start's damping adapted
on its own; the best few end points are then polished with scipy's L-BFGS-B, the reference's own method.
"""
from __future__ import annotations

import itertools

import numpy as np

from planner.errors import PlannerError

PARAM_NAMES = ("a", "b", "e", "alpha", "beta")  # log A, log B, log E and the two exponents
HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, App. D.2
# Successive halving of the starts: after 2 LM iterations keep the best 10%, after 8 the best 10% of
# those. Starts from the same basin look alike after a few Gauss-Newton steps; benchmarks/bench_fit.py
# checks the kept optimum against the exhaustive run and against scipy from every start.
PRUNE = {2: 0.1, 8: 0.1}
MAX_BATCH_ELEMENTS = 4e6  # starts x points per batch: 4,500 starts x ~900 points, about 16 MB per array


def hoffmann_grid(alpha=(0, 0.5, 1, 1.5, 2), beta=(0, 0.5, 1, 1.5, 2), e=(-1, -0.5, 0, 0.5, 1),
                  a=(0, 5, 10, 15, 20, 25), b=(0, 5, 10, 15, 20, 25)) -> np.ndarray:
    """Starting points (a, b, e, alpha, beta): 6 x 6 x 5 x 5 x 5 = 4,500 by default (Hoffmann et al.)."""
    return np.array(list(itertools.product(a, b, e, alpha, beta)), dtype=float)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """0.5 r^2 for |r| <= delta, delta (|r| - delta/2) beyond: c (|r| - c/2) with c = min(|r|, delta)."""
    ar = np.abs(r)
    c = np.minimum(ar, delta)
    return c * (ar - 0.5 * c)


def objective(theta: np.ndarray, log_n, log_d, log_loss, weights=None, delta: float = HUBER_DELTA) -> np.ndarray:
    """Sum of Huber losses for each row of theta (S, 5); weights (n,) or (S, n) count each point."""
    return _State(np.atleast_2d(np.asarray(theta, dtype=float)), log_n, log_d, log_loss, weights, delta).f


def objective_and_gradient(theta: np.ndarray, log_n, log_d, log_loss, weights=None, delta: float = HUBER_DELTA):
    """Objective and analytic gradient for one parameter vector (what the scipy reference and polish use)."""
    state = _State(np.atleast_2d(np.asarray(theta, dtype=float)), log_n, log_d, log_loss, weights, delta)
    return float(state.f[0]), state.gradient()[0]


class _State:
    """Residuals of the LSE model for a batch of parameter vectors, and the sums its derivatives need.

    The Jacobian of r = LSE(u1, u2, u3) - log L is (p1, p2, p3, -p1 log N, -p2 log D) with p the softmax
    of (u1, u2, u3), so every gradient and Gauss-Newton entry is a sum over points of a product of two
    softmax weights times one of 1, log N, log D, (log N)^2, (log D)^2, log N log D: six matrix products
    (one BLAS call each) instead of a (starts x points x 5 x 5) tensor.
    """

    def __init__(self, theta, log_n, log_d, log_loss, weights, delta):
        self.delta, self.weights = delta, weights
        a, b, e, alpha, beta = (theta[:, i:i + 1] for i in range(5))
        u1, u2 = a - alpha * log_n, b - beta * log_d
        top = np.maximum(np.maximum(u1, u2), e)
        self.e1, self.e2, self.e3 = np.exp(u1 - top), np.exp(u2 - top), np.exp(e - top)
        self.total = self.e1 + self.e2 + self.e3
        self.r = top + np.log(self.total) - log_loss
        self.features = np.stack([np.ones_like(log_n), log_n, log_d, log_n**2, log_d**2, log_n * log_d], axis=1)
        h = huber(self.r, delta)
        self.f = (h if weights is None else h * weights).sum(axis=1)
        self._p = None  # softmax weights, computed once when the derivatives need them

    def take(self, idx) -> "_State":
        """The same state for a subset of the starts."""
        out = object.__new__(_State)
        out.delta, out.features = self.delta, self.features
        out.weights = None if self.weights is None else self.weights[idx]
        for name in ("e1", "e2", "e3", "total", "r", "f"):
            setattr(out, name, getattr(self, name)[idx])
        out._p = None if self._p is None else tuple(p[idx] for p in self._p)
        return out

    def _softmax(self):
        if self._p is None:
            inv = 1.0 / self.total
            self._p = (self.e1 * inv, self.e2 * inv, self.e3 * inv)
        return self._p

    def _w(self, x):
        return x if self.weights is None else x * self.weights

    def gradient(self) -> np.ndarray:
        p1, p2, p3 = self._softmax()
        c = self._w(np.clip(self.r, -self.delta, self.delta))
        s1 = (c * p1) @ self.features[:, :2]  # sum c p1, sum c p1 logN
        s2 = (c * p2) @ self.features[:, [0, 2]]
        s3 = (c * p3).sum(axis=1)
        return np.stack([s1[:, 0], s2[:, 0], s3, -s1[:, 1], -s2[:, 1]], axis=1)

    def gauss_newton(self) -> np.ndarray:
        """sum_n w_n J_n J_n^T with IRLS weights w = min(1, delta/|r|): the Huber loss's majoriser."""
        ar = np.abs(self.r)
        with np.errstate(divide="ignore", over="ignore"):
            w = self._w(np.minimum(self.delta / ar, 1.0))
        p1, p2, p3 = self._softmax()
        F = self.features
        wp1, wp2 = w * p1, w * p2
        m11, m12, m22 = (wp1 * p1) @ F, (wp1 * p2) @ F, (wp2 * p2) @ F
        m13, m23, m33 = (wp1 * p3) @ F[:, :3], (wp2 * p3) @ F[:, :3], (w * p3 * p3).sum(axis=1)
        # columns of F: 0 -> 1, 1 -> x, 2 -> y, 3 -> x^2, 4 -> y^2, 5 -> xy ; order (a, b, e, alpha, beta)
        rows = [
            [m11[:, 0], m12[:, 0], m13[:, 0], -m11[:, 1], -m12[:, 2]],
            [m12[:, 0], m22[:, 0], m23[:, 0], -m12[:, 1], -m22[:, 2]],
            [m13[:, 0], m23[:, 0], m33, -m13[:, 1], -m23[:, 2]],
            [-m11[:, 1], -m12[:, 1], -m13[:, 1], m11[:, 3], m12[:, 5]],
            [-m12[:, 2], -m22[:, 2], -m23[:, 2], m12[:, 5], m22[:, 4]],
        ]
        return np.stack([np.stack(row, axis=1) for row in rows], axis=1).astype(float)


def _lm_steps(hess: np.ndarray, grad: np.ndarray, lam: np.ndarray) -> np.ndarray:
    diag = np.einsum("sii->si", hess)
    damping = lam[:, None] * (diag + 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300)
    return -np.linalg.solve(hess + damping[:, :, None] * np.eye(5), grad[:, :, None])[..., 0]


def batched_minimize(starts: np.ndarray, log_n, log_d, log_loss, weights=None, delta: float = HUBER_DELTA,
                     max_iter: int = 100, tol: float = 1e-9, prune: dict[int, float] | None = None,
                     coarse_iters: int = 0, damping: float = 1e-2):
    """Minimise the Huber-LSE objective from every start at once; returns (theta (S, 5), objective (S,)).

    Levenberg-Marquardt on the IRLS majoriser of the Huber loss: weights min(1, delta/|r|) make each
    step a damped, weighted Gauss-Newton step whose gradient is the true Huber gradient; each start has
    its own damping. Only the 5x5 system of each start is kept between steps, and it is recomputed only
    where a step was accepted. A start stops when a step gains less than `tol` (relative).
    `prune={k: q, ...}`: after iteration k only the best fraction q of the still-running starts goes on
    (successive halving, default PRUNE); the others keep the point they reached. `prune={}` runs every
    start to the end (exhaustive, several times slower, same optimum in our benchmark).
    `weights` (n,) or (S, n) multiply each point's loss (bootstrap resamples are integer weights).
    `coarse_iters`: without pruning, the first iterations run in float32 (3x faster; warm-started
    bootstrap resamples only need the last few steps in float64). `damping`: the initial LM damping
    (smaller for warm starts, whose Gauss-Newton steps are good from the first).
    """
    prune = PRUNE if prune is None else prune
    theta = np.array(starts, dtype=float)
    n_starts = theta.shape[0]
    w_all = None if weights is None else np.broadcast_to(np.asarray(weights, dtype=float), (n_starts, log_n.size))
    # Until the first pruning only the ranking of the starts matters: float32 is 3x faster there.
    coarse = bool(prune) or coarse_iters > 0

    def evaluate(th, idx):
        dtype = np.float32 if coarse else float
        data = (np.asarray(v, dtype=dtype) for v in (log_n, log_d, log_loss))
        w = None if w_all is None else w_all[idx].astype(dtype)
        return _State(th.astype(dtype), *data, w, delta)

    active = np.arange(n_starts)
    state = evaluate(theta, active)
    f, lam = state.f.astype(float), np.full(n_starts, damping)
    hess, grad = state.gauss_newton(), state.gradient().astype(float)
    for it in range(max_iter):
        if active.size == 0:
            break
        if it in prune or (coarse and it == coarse_iters and not prune):
            if it in prune:
                keep = max(1, int(np.ceil(prune[it] * active.size)))
                active = active[np.argsort(np.where(np.isfinite(f[active]), f[active], np.inf))[:keep]]
            if coarse:  # back to float64 for the survivors
                coarse = False
                state = evaluate(theta[active], active)
                f[active], hess[active], grad[active] = state.f, state.gauss_newton(), state.gradient()
        trial = theta[active] + _lm_steps(hess[active], grad[active], lam[active])
        new = evaluate(trial, active)
        better = np.isfinite(new.f) & (new.f < f[active])
        gain = f[active] - np.where(better, new.f, f[active])
        accepted = active[better]
        theta[accepted], f[accepted] = trial[better], new.f[better]
        if accepted.size:
            sub = new.take(better)
            hess[accepted], grad[accepted] = sub.gauss_newton(), sub.gradient()
        lam[active] = np.where(better, np.maximum(lam[active] / 3, 1e-9), lam[active] * 4)
        done = (better & (gain <= tol * np.maximum(f[active], 1e-12))) | (lam[active] > 1e8)
        active = active[~done]
    return theta, f


def polish(theta0: np.ndarray, log_n, log_d, log_loss, weights=None, delta: float = HUBER_DELTA) -> tuple[np.ndarray, float]:
    """One scipy L-BFGS-B run from theta0 with the analytic gradient (the reference's method)."""
    from scipy.optimize import minimize

    res = minimize(objective_and_gradient, theta0, args=(log_n, log_d, log_loss, weights, delta),
                   jac=True, method="L-BFGS-B")
    return res.x, float(res.fun)


def reference_fit(starts: np.ndarray, log_n, log_d, log_loss, delta: float = HUBER_DELTA, jac: bool = True):
    """The straightforward reference: scipy L-BFGS-B from each start in turn, best kept. Slow by design."""
    from scipy.optimize import minimize

    best_x, best_f = None, np.inf
    fun = objective_and_gradient if jac else (lambda t, *args: objective_and_gradient(t, *args)[0])
    for start in starts:
        res = minimize(fun, start, args=(log_n, log_d, log_loss, None, delta), jac=jac, method="L-BFGS-B")
        if res.fun < best_f:
            best_x, best_f = res.x, float(res.fun)
    return best_x, best_f


def fit_parametric(log_n, log_d, log_loss, weights=None, starts: np.ndarray | None = None,
                   delta: float = HUBER_DELTA, n_polish: int = 3, prune: dict[int, float] | None = None):
    """Best fit over all starts: batched minimisation, then scipy polish of the best few end points.

    Returns (theta, objective, alternatives): alternatives are the best end points of up to two other
    basins (differing by more than 1e-3 in some parameter, objective within 1.5x of the best), used as
    extra warm starts by the bootstrap and the held-out refit.
    """
    starts = hoffmann_grid() if starts is None else np.atleast_2d(starts)
    # Bound the (starts x points) arrays (~10 of them live at once): long curves are fitted in chunks of starts.
    chunk = max(1, int(MAX_BATCH_ELEMENTS // max(1, len(log_n))))
    parts = [batched_minimize(starts[i:i + chunk], log_n, log_d, log_loss, weights, delta, prune=prune)
             for i in range(0, len(starts), chunk)]
    theta, f = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    order = np.argsort(np.where(np.isfinite(f), f, np.inf))
    best_x, best_f = None, np.inf
    for i in order[:n_polish]:
        x, fx = polish(theta[i], log_n, log_d, log_loss, weights, delta)
        if not fx <= f[i]:  # L-BFGS-B may stop early on the near-L1 objective: keep the better point
            x, fx = theta[i], float(f[i])
        if fx < best_f:
            best_x, best_f = x, fx
    if best_x is None or not np.isfinite(best_f):
        raise PlannerError("the parametric fit failed from every start: check that losses vary with size and tokens")
    alternatives = []
    for i in order[: min(len(order), 200)]:
        if f[i] > 1.5 * best_f:  # only competitive basins are worth a bootstrap start
            break
        if all(np.abs(theta[i] - y).max() > 1e-3 for y in [best_x, *alternatives]):
            alternatives.append(theta[i])
        if len(alternatives) == 2:
            break
    return best_x, best_f, np.array(alternatives).reshape(-1, 5)
