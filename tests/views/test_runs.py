"""views.runs: the Runs page reads a job's run name, budget and final loss typed, whatever the kind."""
from planner.jobs.store import Job
from planner.views.runs import job_summary, runs_table


def _job(spec, result=None, kind="ladder-run") -> Job:
    return Job(id=7, kind=kind, spec=spec, status="done", result=result, created_at=0.0)


def test_a_ladder_run_gives_its_name_budget_and_final_loss():
    summary = job_summary(_job({"meta": {"run": "C1e15-a", "budget_flops": 1e15, "role": "fit"}},
                               {"final_loss": 3.25, "tokens": 100}))
    assert (summary.run, summary.budget_flops, summary.final_loss) == ("C1e15-a", 1e15, 3.25)
    assert summary.final_loss_text() == "3.2500" and summary.label(7) == "C1e15-a"


def test_a_job_without_those_fields_shows_dashes_and_its_id():
    summary = job_summary(_job({"steps": 2}, None, kind="sleep"))
    assert summary.final_loss is None and summary.final_loss_text() == "—"
    assert summary.label(7) == "job 7" and summary.budget_flops == 0.0


def test_an_unreadable_spec_or_result_gives_empty_fields_not_an_error():
    summary = job_summary(_job({"meta": "not a dict"}, {"final_loss": "lots"}))
    assert summary.run == "" and summary.final_loss is None


def test_an_adaptation_comparison_names_its_preset():
    assert job_summary(_job({"preset": "tiny", "methods": ["lora"]}, None, kind="adapt")).preset == "tiny"


def test_the_runs_table_reads_every_job_through_the_summary():
    """QA: a hand-written result ({"tokens_per_s": "x"}) or spec ({"meta": "not a dict"}) raised in the
    table (format code 'f' for a str) and took the whole Runs page down; now its cells show dashes."""
    table = runs_table([_job({"meta": {"run": "C1e15-a"}}, {"final_loss": 3.25, "tokens_per_s": 12345.6}),
                        _job({"meta": "not a dict"}, {"final_loss": "lots", "tokens_per_s": "x"})])
    assert list(table["run"]) == ["C1e15-a", ""]
    assert list(table["final loss"]) == ["3.2500", "—"] and list(table["tokens/s"]) == ["12,346", "—"]
    assert list(table["time"]) == ["—", "—"]  # never started
