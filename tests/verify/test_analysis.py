"""verify.analysis: the ladder's fit is cached on what it reads, so the page's polling refits only when it must."""
from planner.errors import PlannerError
from planner.verify import analysis
from planner.verify.analysis import LadderRunStatus, fit_ladder


def _run(i: int, status: str, role: str = "isoflop") -> LadderRunStatus:
    return LadderRunStatus(job_id=i, name=f"r{i}", role=role, budget_flops=1e15, params=1e5 * (i + 1),
                           tokens=10**6, flops=1e15, status=status,
                           final_loss=3.0 + 0.1 * i if status == "done" else None)


def test_a_run_that_starts_or_fails_does_not_refit_one_that_finishes_does(monkeypatch):
    calls = []

    def fake_fit(df, options):  # counts fits; the real one takes ~0.5-1 s on 12-16 points
        calls.append(len(df))
        raise PlannerError("fake")

    monkeypatch.setattr(analysis, "fit_runs", fake_fit)
    monkeypatch.setattr(analysis, "_FITS", {})
    done = [_run(i, "done") for i in range(6)]
    held = _run(99, "queued", role="holdout")
    first = fit_ladder(done + [_run(6, "queued"), held], [1e15])
    assert calls == [6, 6]  # approach2 and approach3 on the 6 finished points
    assert first.notes[0] == "fitted on the 6 runs finished so far"
    fit_ladder(done + [_run(6, "running"), held], [1e15])
    fit_ladder(done + [_run(6, "failed"), _run(99, "running", role="holdout")], [1e15])
    assert calls == [6, 6]  # nothing the fit reads changed
    again = fit_ladder(done + [_run(6, "done"), held], [1e15])
    assert calls == [6, 6, 7, 7] and again.notes[0] == "approach2: fake"  # all fit points finished: no note


def test_the_cache_keeps_only_the_latest_fits(monkeypatch):
    def no_fit(df, options):
        raise PlannerError("fake")

    monkeypatch.setattr(analysis, "fit_runs", no_fit)
    monkeypatch.setattr(analysis, "_FITS", {})
    for i in range(analysis.MAX_CACHED_FITS + 5):
        fit_ladder([_run(j, "done") for j in range(6)], [1e15 * (i + 1)])
    assert len(analysis._FITS) == analysis.MAX_CACHED_FITS
