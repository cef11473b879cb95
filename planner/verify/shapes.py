"""The ladder's one shape search: a shape for every ladder size, from 5k to billions of parameters.

Above width 64 it is `architecture.suggest_shape` (conventional widths, head sizes and depth-width
ratios), asked in the ladder's own count: compute params N of C = 6·N·D. Below suggest_shape's smallest
shape (width 64, one layer) a tiny-model grid takes over, with 16-wide heads (8-wide where the width is
an odd multiple of 8), so CPU ladders of 5k-300k parameters still get sensible depth-width ratios.
"""
from __future__ import annotations

import math

from planner.core.architecture import ModelConfig, flops_per_token, suggest_shape
from planner.errors import PlannerError

SHAPE_TOLERANCE = 0.10  # accept suggest_shape's answer if within 10% of the target
TINY_HEAD_DIM = 16
TINY_ASPECT = (16, 64)  # d_model / n_layers band for the tiny grid; Kaplan's flat region starts ~20,
# and on CPU each extra layer costs a fixed overhead per step that tiny widths never amortise


def compute_params(cfg: ModelConfig) -> float:
    """N in C = 6·N·D: every weight that takes part in a matmul (incl. the LM head), embeddings excluded.
    This is `flops_per_token(...).dense / 6`, so the ladder's N and its FLOPs agree by construction."""
    return flops_per_token(cfg, seq_len=1).dense / 6.0


def _tiny_shape(target: float, family: str, vocab_size: int, seq_len: int) -> ModelConfig:
    best, best_err = None, math.inf
    for layers in range(1, 9):
        for d in range(8, 257, 8):
            if layers > 1 and not TINY_ASPECT[0] <= d / layers <= TINY_ASPECT[1]:
                continue
            cfg = _grid_config(family, d, layers, vocab_size, seq_len)
            err = abs(math.log(compute_params(cfg) / target))
            if err < best_err - 1e-9:
                best, best_err = cfg, err
    if best is None or best_err > math.log(2):
        raise PlannerError(f"no small shape near {target:.3g} parameters with vocabulary {vocab_size}")
    return best


def _grid_config(family: str, d: int, layers: int, vocab_size: int, seq_len: int) -> ModelConfig:
    gpt2 = family == "gpt2"
    ff = 4 * d if gpt2 else 16 * math.ceil(8 * d / 3 / 16)  # SwiGLU keeps the MLP near 8/3·d
    heads = d // (TINY_HEAD_DIM if d % TINY_HEAD_DIM == 0 else 8)
    return ModelConfig(name=f"{family}-L{layers}-d{d}", family=family, vocab_size=vocab_size, d_model=d,
                       n_layers=layers, n_heads=heads, d_ff=ff, max_seq_len=seq_len, tie_embeddings=gpt2)


def smallest_params(family: str, vocab_size: int, seq_len: int) -> float:
    """Compute params of the smallest shape `ladder_shape` makes (width 8, one layer)."""
    return compute_params(_grid_config(family, 8, 1, vocab_size, seq_len))


def ladder_shape(target_params: float, family: str = "llama", vocab_size: int = 32000,
                 seq_len: int = 2048) -> ModelConfig:
    """A shape whose compute params (see `compute_params`) are close to `target_params`."""
    asked = target_params
    try:
        for _ in range(4):  # suggest_shape counts without the LM head: shrink its target until they agree
            cfg = suggest_shape(asked, family=family, vocab_size=vocab_size, seq_len=seq_len,
                                counting="non_embedding")
            if abs(math.log(compute_params(cfg) / target_params)) < math.log(1 + SHAPE_TOLERANCE):
                return cfg
            asked *= target_params / compute_params(cfg)
    except PlannerError:
        pass
    return _tiny_shape(target_params, family, vocab_size, seq_len)
