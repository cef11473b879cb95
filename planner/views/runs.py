"""The Runs page's view of one job: typed fields read from any kind's spec and result, so the page never digs
into job dicts. Kinds store different results (a ladder run's RunResult, an adaptation comparison, a test's
sleep); the page shows the few fields they share when present, and the raw JSON in its own expander."""
from pydantic import BaseModel, ConfigDict, Field, ValidationError

BLANK = "—"  # a value not known (yet), as in the runs table


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


class JobSummary(BaseModel):
    """What the Runs page shows about one job besides its status."""

    run: str = Field(default="", description="the run's name in its ladder; empty for other kinds")
    budget_flops: float = Field(default=0.0, description="the ladder budget the run belongs to; 0 if none")
    final_loss: float | None = Field(default=None, description="held-out loss at the end, when the kind reports one")
    preset: str | None = Field(default=None, description="an adaptation comparison's base preset")

    def final_loss_text(self) -> str:
        return f"{self.final_loss:.4f}" if self.final_loss is not None else BLANK

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
        final_loss = _Result.model_validate(job.result or {}).final_loss
    except ValidationError:
        final_loss = None
    return JobSummary(run=spec.meta.run, budget_flops=spec.meta.budget_flops, final_loss=final_loss,
                      preset=spec.preset)
