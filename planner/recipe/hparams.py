"""Peak learning rate and batch size for a run, from two published fits side by side.

- DeepSeek LLM 2024 (Bi et al., arXiv 2401.02954, §3.1 eq. 1): eta_opt = 0.3118 C^-0.1250 and
  B_opt = 0.2920 C^0.3271 tokens, where C = M D and M is the *non-embedding* FLOPs per token including
  attention, M = 72 n_layer d_model^2 + 6 n_layer d_model l_seq (their eq. 2). 72 n d^2 is 6 x the 12 n d^2
  non-embedding parameters of a standard block, so we map M = 6 N_non-embedding + 6 n_layer d_model l_seq on the
  suggested shape (which may be SwiGLU/GQA: its exact non-embedding count is used). Without a shape (a model
  too small for the searched widths) M falls back to 6 N.
- Step Law (Li et al. 2025, 'Predictable Scale: Part I', arXiv 2503.04715, §3, the Step Law formulas): eta_opt =
  1.79 N^-0.713 D^0.307 and B_opt = 0.58 D^0.571 tokens, N non-embedding parameters, D training tokens
  (fitted with a fixed final LR of 1e-5 after cosine decay).
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from planner.core import architecture, laws
from planner.core.budget import check_positive
from planner.core.laws import FLOPS_PER_PARAM_TOKEN
from planner.errors import PlannerError

DEEPSEEK = "Bi et al. 2024, 'DeepSeek LLM' (arXiv 2401.02954), §3.1 eq. 1-2"
STEP_LAW = "Li et al. 2025, 'Predictable Scale: Part I, Step Law' (arXiv 2503.04715), §3"
CRITICAL_BATCH = (
    "Batch sizes past the critical batch buy no fewer steps, only more tokens per step: Kaplan et al. 2020 "
    "(§5.1, eq. 5.3) find it grows as the loss falls (B_crit ~ 2e8 tokens / L^4.8 on WebText2), and Zhang "
    "et al. 2025 ('How Does Critical Batch Size Scale in Pre-training?', ICLR 2025) find it grows with the "
    "amount of data, roughly independent of model size. Both rules here were fitted on runs far smaller "
    "than frontier runs: treat them as a starting point for a short sweep, not a guarantee.")
SCHEDULE = (
    "Warm up linearly over ~2,000 steps (DeepSeek LLM §2.3) or ~1% of the steps. A cosine decay to ~10% of "
    "the peak must have its cycle length set to the run's length (Hoffmann et al. 2022 §3.1): a point from the "
    "middle of a cosine run is not a valid shorter run. Warmup-stable-decay (WSD: constant LR, then a short "
    "10-20% cooldown; Hu et al. 2024 MiniCPM; Hägele et al. 2024, arXiv 2405.18392) matches cosine at the "
    "same length and lets you extend the run or branch cheaper shorter runs from the stable phase; DeepSeek's "
    "multi-step schedule (80% / 10% / 10% of tokens at 100% / 31.6% / 10% LR) is the same idea.")


class HparamRule(BaseModel):
    law: str
    citation: str
    lr: float = Field(description="peak learning rate (AdamW)")
    batch_tokens: float = Field(description="tokens per optimizer step")
    batch_sequences: int = Field(description="batch_tokens / seq_len, rounded, at least 1")
    steps: int = Field(description="training tokens / batch tokens")
    note: str = ""


class Hparams(BaseModel):
    """Learning rate and batch size; `lr`, `batch_tokens` and `law` are the first rule's (DeepSeek's)."""

    params: float
    tokens: float
    flops: float = Field(description="6ND")
    seq_len: int
    non_embedding_params: float
    flops_per_token_non_embedding: float = Field(description="DeepSeek's M, FLOPs per token")
    lr: float
    batch_tokens: float
    law: str
    rules: list[HparamRule]
    critical_batch_caveat: str = CRITICAL_BATCH
    schedule_advice: str = SCHEDULE
    mapping_note: str


def _shape_terms(params: float, seq_len: int) -> tuple[float, float, str]:
    """(non-embedding params, M) from the suggested shape of a model of `params` parameters."""
    try:
        cfg = architecture.suggest_shape_any_vocab(params, seq_len=seq_len)
    except PlannerError:
        return params, FLOPS_PER_PARAM_TOKEN * params, "no shape for this size: M = 6N, N counted as non-embedding"
    n_ne = architecture.param_counts(cfg).non_embedding
    m = FLOPS_PER_PARAM_TOKEN * n_ne + 6 * cfg.n_layers * cfg.d_model * seq_len
    return float(n_ne), float(m), (f"M = 6 x {n_ne:,} non-embedding params + 6 x {cfg.n_layers} layers x "
                                   f"{cfg.d_model} width x {seq_len} tokens (suggested shape)")


def deepseek_rule(flops_non_embedding: float) -> tuple[float, float]:
    """(peak lr, batch tokens) from DeepSeek's eq. 1 at C = M D (non-embedding FLOPs)."""
    return 0.3118 * flops_non_embedding**-0.1250, 0.2920 * flops_non_embedding**0.3271


def _rule(law: str, citation: str, lr: float, batch: float, tokens: float, seq_len: int, note="") -> HparamRule:
    if batch < seq_len:  # one sequence per step would already overshoot the rule's batch
        raise PlannerError(f"{law}'s batch for this run is {batch:,.0f} tokens, less than one sequence of "
                           f"{seq_len:,}: use a shorter --seq")
    return HparamRule(law=law, citation=citation, lr=lr, batch_tokens=batch,
                      batch_sequences=max(1, round(batch / seq_len)), steps=max(1, round(tokens / batch)),
                      note=note)


def hparams(params: float, tokens: float, seq_len: int = 4096) -> Hparams:
    """Both rules for a model of `params` parameters trained on `tokens` tokens."""
    n, d = check_positive("params", params), check_positive("tokens", tokens)
    seq_len = int(check_positive("sequence length", seq_len))
    n_ne, m, mapping = _shape_terms(n, seq_len)
    c_deepseek = m * d
    deepseek = _rule("deepseek2024", DEEPSEEK, *deepseek_rule(c_deepseek), d, seq_len,
                     note=f"C = M x D = {c_deepseek:.3g} (non-embedding FLOPs, their convention)")
    step = _rule("steplaw2025", STEP_LAW, 1.79 * n_ne**-0.713 * d**0.307, 0.58 * d**0.571, d, seq_len,
                 note="N = non-embedding parameters; the batch depends on D only")
    return Hparams(params=n, tokens=d, flops=FLOPS_PER_PARAM_TOKEN * n * d, seq_len=seq_len,
                   non_embedding_params=n_ne, flops_per_token_non_embedding=m, lr=deepseek.lr,
                   batch_tokens=deepseek.batch_tokens, law=deepseek.law, rules=[deepseek, step],
                   mapping_note=mapping)


def hparams_for_flops(flops: float, law_name: str = laws.DEFAULT_LAW, seq_len: int = 4096) -> Hparams:
    """The rules at the compute-optimal run of a budget under `law_name`."""
    alloc = laws.get_law(law_name).optimal(flops)
    return hparams(alloc.params, alloc.tokens, seq_len)
