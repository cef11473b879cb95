"""The Runs page's view of jobs: typed fields read from any kind's spec and result, so the page never digs
into job dicts. Kinds store different results (a ladder run's RunResult, an adaptation comparison, a test's
sleep); the page shows the few fields they share when present, and the raw JSON in its own expander."""
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.core.format import duration

BLANK = "—"  # a value not known (yet): tables show this rather than "None"


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore")
    run: str = ""
    budget_flops: float = 0.0


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    meta: _Meta = Field(default_factory=_Meta)
    preset: str | None = None  # an adaptation comparison's base preset


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")
    final_loss: float | None = None
    tokens_per_s: float | None = None


class JobSummary(BaseModel):
    """What the Runs page shows about one job besides its status."""

    run: str = Field(default="", description="the run's name in its ladder; empty for other kinds")
    budget_flops: float = Field(default=0.0, description="the ladder budget the run belongs to; 0 if none")
    final_loss: float | None = Field(default=None, description="held-out loss at the end, when the kind reports one")
    tokens_per_s: float | None = Field(default=None, description="training throughput, when the kind reports one")
    preset: str | None = Field(default=None, description="an adaptation comparison's base preset")

    def final_loss_text(self) -> str:
        return f"{self.final_loss:.4f}" if self.final_loss is not None else BLANK

    def tokens_per_s_text(self) -> str:
        return f"{self.tokens_per_s:,.0f}" if self.tokens_per_s is not None else BLANK

    def label(self, job_id: int) -> str:
        return self.run or f"job {job_id}"


def job_summary(job) -> JobSummary:
    """A job's typed summary; a spec or result this version cannot read (another version's, or hand-written)
    gives empty fields rather than an error: the raw JSON still shows it."""
    try:
        spec = _Spec.model_validate(job.spec or {})
    except ValidationError:
        spec = _Spec()
    try:
        result = _Result.model_validate(job.result or {})
    except ValidationError:
        result = _Result()
    return JobSummary(run=spec.meta.run, budget_flops=spec.meta.budget_flops, final_loss=result.final_loss,
                      tokens_per_s=result.tokens_per_s, preset=spec.preset)


def runs_table(jobs) -> pd.DataFrame:
    """The Runs page's history: one row per job from the store, its fields read through `job_summary`."""
    rows = []
    for j in jobs:
        summary = job_summary(j)
        rows.append({"job": j.id, "kind": j.kind, "group": j.group or "", "run": summary.run,
                     "status": j.status, "progress": j.progress, "attempt": j.attempt,
                     "final loss": summary.final_loss_text(), "tokens/s": summary.tokens_per_s_text(),
                     "created": pd.Timestamp(j.created_at, unit="s").strftime("%Y-%m-%d %H:%M:%S"),
                     "time": duration(j.finished_at - j.started_at) if j.finished_at and j.started_at
                     else BLANK,
                     "error": j.error or ""})
    return pd.DataFrame(rows)
