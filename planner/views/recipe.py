"""Tables and figures of the run recipe (Plan page: serving, over-training, hyperparameters; Models page:
quoted figures and vision presets): pure functions of planner.recipe results."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from planner.core import format as fmt
from planner.core.laws import PF_DAY
from planner.recipe.claims import Claim, QuotedFigure
from planner.recipe.hparams import Hparams
from planner.recipe.inference import InferenceAwarePlan
from planner.recipe.overtrain import OvertrainTable

from planner.views.style import PALETTE


def inference_figure(curve: pd.DataFrame, result: InferenceAwarePlan) -> go.Figure:
    """Training, inference and total cost of every size reaching the same loss; both optima marked."""
    fig = go.Figure()
    for i, (column, name) in enumerate((("training_flops", "training"), ("inference_flops", "inference"),
                                        ("total_flops", "total"))):
        fig.add_trace(go.Scatter(x=curve["params"], y=curve[column], mode="lines", name=name,
                                 line=dict(color=PALETTE[i], width=4 if name == "total" else 2),
                                 hovertemplate=f"N=%{{x:.3s}}<br>{name}=%{{y:.3g}} FLOPs<extra></extra>"))
    log_n, log_total = np.log(curve["params"]), np.log(curve["total_flops"])
    for params, name, symbol, colour in ((result.chinchilla.params, "training-only optimum", "star", "black"),
                                         (result.params, "inference-aware optimum", "diamond", "red")):
        total = float(np.exp(np.interp(np.log(params), log_n, log_total)))  # on the curve, in its weighting
        fig.add_trace(go.Scatter(x=[params], y=[total], mode="markers", name=name,
                                 marker=dict(size=14, symbol=symbol, color=colour),
                                 hovertemplate=f"{name}<br>N=%{{x:.3s}}<br>total=%{{y:.3g}}<extra></extra>"))
    fig.update_layout(title=f"Cost of reaching loss {result.target_loss:.3f} vs model size "
                            f"({fmt.count(result.inference_tokens)} inference tokens)",
                      xaxis_title="parameters N", yaxis_title="FLOPs (inference weighted by its MFU)",
                      xaxis_type="log", yaxis_type="log", height=420, margin=dict(t=50, b=40))
    return fig


def inference_frame(result: InferenceAwarePlan) -> pd.DataFrame:
    rows = [("training-only optimum", result.chinchilla), ("inference-aware optimum", result)]
    return pd.DataFrame([{
        "run": name, "params": fmt.count(r.params), "tokens": fmt.count(r.tokens),
        "tokens/param": f"{r.tokens_per_param:.0f}", "loss": f"{r.loss:.4f}",
        "training FLOPs": f"{r.training_flops:.3g}", "inference FLOPs": f"{r.inference_flops:.3g}",
        "total FLOPs": f"{r.total_flops:.3g}", "cost": "—" if r.usd is None else fmt.usd(r.usd),
    } for name, r in rows])


def overtrain_frame(table: OvertrainTable) -> pd.DataFrame:
    return pd.DataFrame([{
        "tokens/param": f"{r.ratio:,.0f}", "params": fmt.count(r.params), "tokens": fmt.count(r.tokens),
        "loss": f"{r.loss:.4f}", "loss penalty": f"+{r.loss_penalty_pct:.2f}%",
        "compute for the optimal loss": f"{r.extra_compute:+.0%}", "model at that loss": fmt.count(r.params_same_loss),
        "serving FLOPs saved": f"{r.inference_saving:.0%}",
    } for r in table.rows])


def overtrain_figure(table: OvertrainTable) -> go.Figure:
    ratios = [r.ratio for r in table.rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss penalty at this budget (%)",
                                                        "to match the optimal loss: extra compute vs serving saved"))
    fig.add_trace(go.Scatter(x=ratios, y=[r.loss_penalty_pct for r in table.rows], mode="lines+markers",
                             name="loss penalty %", line=dict(color=PALETTE[0])), row=1, col=1)
    fig.add_trace(go.Scatter(x=ratios, y=[100 * r.extra_compute for r in table.rows], mode="lines+markers",
                             name="extra training compute %", line=dict(color=PALETTE[1])), row=1, col=2)
    fig.add_trace(go.Scatter(x=ratios, y=[100 * r.inference_saving for r in table.rows], mode="lines+markers",
                             name="serving FLOPs saved %", line=dict(color=PALETTE[2])), row=1, col=2)
    fig.update_xaxes(type="log", title_text="tokens per parameter")
    fig.update_layout(title=f"Over-training at {table.flops:.3g} FLOPs ({table.law})", height=400,
                      margin=dict(t=70, b=40))
    return fig


def hparams_frame(h: Hparams) -> pd.DataFrame:
    return pd.DataFrame([{
        "rule": r.law, "peak LR": f"{r.lr:.2e}", "batch (tokens)": fmt.count(r.batch_tokens),
        f"batch (x{h.seq_len} seqs)": f"{r.batch_sequences:,}", "steps": f"{r.steps:,}", "source": r.citation,
    } for r in h.rules])


def hparams_line(h: Hparams) -> str:
    """One line for next to the suggested shape."""
    return " · ".join(f"{r.law}: peak LR {r.lr:.1e}, batch {fmt.count(r.batch_tokens)} tokens" for r in h.rules)


def claim_frame(claim: Claim) -> pd.DataFrame:
    return pd.DataFrame([{"computed": f"{claim.flops:.3g} FLOPs ({_pf_days(claim.flops)} PF-days)",
                          "quoted": f"{claim.quoted_flops:.3g} FLOPs ({_pf_days(claim.quoted_flops)} PF-days)",
                          "quoted vs computed": _versus(claim.disagreement),
                          "verdict": "⚠ flagged" if claim.flagged else "✓ agrees"}])


def _versus(disagreement: float) -> str:
    """+38% / -49%, or 31,888x when the figure is off by orders of magnitude."""
    return f"{disagreement + 1:,.0f}x" if disagreement > 9 else f"{disagreement:+.0%}"


def _pf_days(flops: float) -> str:
    """3,640 or 0.2: a tiny figure keeps two significant digits instead of rounding to 0."""
    days = flops / PF_DAY
    return f"{days:,.0f}" if days >= 10 else f"{days:.2g}"


def quoted_frame(figures: list[QuotedFigure]) -> pd.DataFrame:
    return pd.DataFrame([{
        "figure": f.name, "quoted": f.quoted, "computed (PF-days)": _pf_days(f.claim.flops),
        "quoted (PF-days)": _pf_days(f.claim.quoted_flops),
        "quoted vs computed": _versus(f.claim.disagreement), "verdict": f.verdict.split(":", 1)[0],
        "source": f.source,
    } for f in figures])


def quoted_notes(figures: list[QuotedFigure]) -> list[str]:
    """Why each quoted figure got its verdict, one markdown line each (kept out of the table: they are long)."""
    return [f"**{f.name}** — {f.verdict}" for f in figures]


def vision_frame(rows: list[dict]) -> pd.DataFrame:
    """rows: {"params": VisionParams, "compute": VisionCompute} per preset."""
    return pd.DataFrame([{
        "preset": r["params"].name, "params": f"{r['params'].total:,}",
        "image encoder": f"{r['params'].image_encoder:,}", "text encoder": f"{r['params'].text_encoder:,}",
        "samples seen": fmt.count(r["compute"].samples_seen), "tokens/sample": f"{r['compute'].tokens_per_sample:,.0f}",
        "training FLOPs": f"{r['compute'].flops:.3g}", "PF-days": _pf_days(r["compute"].flops),
    } for r in rows])


def vision_notes(rows: list[dict]) -> list[str]:
    """The compute assumption of each vision preset, one markdown line each."""
    return [f"**{r['params'].name}** — {r['compute'].assumption}" for r in rows]
