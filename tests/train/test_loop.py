"""Corpus, tokenizer, model shapes, the training loop (schedule, resume) and the ladder's design and fit."""
import json
import math

import numpy as np
import pytest

from planner.core import format as fmt
from planner.core.architecture import param_counts
from planner.errors import PlannerError
from planner.fitting import ParametricFit
from planner.core.laws import DEFAULT_LAW, get_law
from planner.train.corpus import CorpusSpec, load_corpus
from planner.train.loop import Callbacks, TrainConfig, Trainer, accelerator_name, lr_at
from planner.train.model import build_model
from planner.verify.analysis import LadderFit, LadderRunStatus, estimate_eta, fit_ladder, predict_holdout
from planner.verify.design import design_ladder
from planner.verify.grid import LadderRequest
from planner.verify.shapes import compute_params, ladder_shape
from planner.train.tokenizer import EOT, token_data, train_tokenizer

SMALL = CorpusSpec(max_bytes=300_000)


@pytest.fixture(scope="module")
def data():
    return token_data(load_corpus(SMALL), 300)  # cached in the first test's fresh $SCALEPLAN_HOME


def test_stdlib_corpus_is_reproducible_and_split():
    a, b = load_corpus(SMALL), load_corpus(SMALL)
    assert a.manifest_sha256 == b.manifest_sha256 and 290_000 <= a.bytes <= 300_000
    train, heldout = a.split()
    held_share = sum(map(len, heldout)) / (sum(map(len, train)) + sum(map(len, heldout)))
    assert 0.01 < held_share < 0.15
    assert load_corpus(CorpusSpec(max_bytes=200_000)).manifest_sha256 != a.manifest_sha256


def test_user_corpus_files(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"document {i} " * 50}) for i in range(200)))
    corpus = load_corpus(CorpusSpec(source=str(jsonl)))
    assert len(corpus.names) == 200 and all(corpus.split())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(PlannerError, match="line 2 is not JSON"):
        load_corpus(CorpusSpec(source=str(bad)))
    with pytest.raises(PlannerError, match="no string field 'body'"):
        load_corpus(CorpusSpec(source=str(jsonl), text_field="body"))
    with pytest.raises(PlannerError, match="not found"):
        load_corpus(CorpusSpec(source=str(tmp_path / "missing.txt")))


def test_tokenizer_is_trained_once_and_cached(scaleplan_home):
    corpus = load_corpus(CorpusSpec(max_bytes=100_000))
    tok = train_tokenizer(corpus, 300)
    assert tok.get_vocab_size() == 300 and tok.token_to_id(EOT) is not None
    cached = list((scaleplan_home / "tokens").glob("*/tokenizer.json"))
    assert len(cached) == 1
    text = "def f(x):\n    return x + 1\n"
    assert tok.decode(tok.encode(text).ids) == text  # byte-level: lossless on any text
    with pytest.raises(PlannerError, match="vocabulary size"):
        train_tokenizer(corpus, 100)


def test_token_data(data):
    assert data.train.dtype == np.uint16 and data.train.max() < 300
    assert len(data.train) > 10 * len(data.heldout) > 0


def test_lr_schedule_warms_up_then_decays_over_the_run():
    cfg = TrainConfig(tokens=100 * 16 * 128, lr=1e-3, warmup_frac=0.1, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(cfg.steps)]
    assert cfg.steps == 100
    assert lrs[0] < lrs[5] < lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(1e-4, rel=0.01)


@pytest.mark.parametrize("target", [5e3, 3e4, 2e5, 1e7, 1.25e8])
def test_ladder_shapes_hit_their_target_and_match_real_models(target):
    vocab = 512 if target < 1e6 else 32000
    cfg = ladder_shape(target, vocab_size=vocab, seq_len=128)
    assert abs(math.log(compute_params(cfg) / target)) < math.log(2 if target < 1e6 else 1.1)
    if target < 1e6:  # build_model itself checks the real count equals the planner's
        model = build_model(cfg)
        assert sum(p.numel() for p in model.parameters()) == param_counts(cfg).total


def test_accelerator_names_from_torch():
    assert accelerator_name("NVIDIA H100 80GB HBM3") == "H100-SXM"
    assert accelerator_name("NVIDIA H100 PCIe") == "H100-PCIe"
    assert accelerator_name("NVIDIA A100-SXM4-40GB") == "A100-40GB"


def _trainer(data, steps, checkpoint_dir=None, callbacks=None):
    cfg = TrainConfig(tokens=steps * 8 * 32, batch_size=8, seq_len=32, lr=1e-2, evals=2, eval_tokens=2048,
                      checkpoint_every_s=1e9)
    model = build_model(ladder_shape(2e4, vocab_size=300, seq_len=32), seed=0)
    return Trainer(model, data.train, data.heldout, cfg, flops_per_token=1e5, callbacks=callbacks,
                   checkpoint_dir=checkpoint_dir)


def test_training_lowers_heldout_loss_and_logs_progress(data):
    logs = []
    trainer = _trainer(data, 40, callbacks=Callbacks(on_log=lambda step, m: logs.append((step, m))))
    start = trainer.evaluate()
    result = trainer.run()
    assert start == pytest.approx(math.log(300), rel=0.1)  # random init: about uniform over the vocab
    assert result.final_loss < start - 0.5 and result.steps == 40 and result.tokens == 40 * 8 * 32
    assert result.mfu is None and result.tokens_per_s > 0  # CPU: no accelerator peak, so no MFU
    assert 0 < result.cpu_seconds < 10 * result.seconds  # one torch thread: CPU time tracks training time
    assert logs[-1][1]["progress"] == 1.0 and "eval_loss" in logs[-1][1]
    assert sum("eval_loss" in m for _, m in logs) == 2


def test_stopped_run_resumes_from_its_checkpoint_exactly(data, tmp_path):
    uninterrupted = _trainer(data, 30).run()
    steps_seen = []
    stop = Callbacks(on_log=lambda step, m: steps_seen.append(step), should_stop=lambda: len(steps_seen) >= 12)
    first = _trainer(data, 30, tmp_path, stop).run()
    assert first.steps == 12 and (tmp_path / "checkpoint.pt").exists()
    resumed = _trainer(data, 30, tmp_path).run()
    assert resumed.resumed_from_step == 12 and resumed.steps == 30
    assert resumed.cpu_seconds > first.cpu_seconds > 0  # over all attempts, like `seconds`
    # the same batches (seeded by step), the same optimizer state: the same model as without the stop
    assert resumed.final_loss == pytest.approx(uninterrupted.final_loss, rel=1e-4)


def test_too_small_splits_are_a_clear_error(data):
    cfg = TrainConfig(tokens=1000, seq_len=32)
    model = build_model(ladder_shape(2e4, vocab_size=300, seq_len=32))
    with pytest.raises(PlannerError, match="held-out split has 10 tokens"):
        Trainer(model, data.train, data.heldout[:10], cfg, flops_per_token=1.0)


def test_ladder_design_is_an_isoflop_grid_with_a_larger_holdout():
    design = design_ladder(LadderRequest(preset="tiny"))
    iso = [r for r in design.runs if r.role == "isoflop"]
    held = [r for r in design.runs if r.role == "holdout"]
    budgets = sorted({r.budget_flops for r in iso})
    assert len(budgets) == 3 and len(held) == 1 and held[0].flops > 1.5 * max(budgets)
    for b in budgets:
        sizes = [r.params for r in iso if r.budget_flops == b]
        assert len(sizes) >= 3 and len(set(sizes)) == len(sizes)
    assert all(abs(r.flops / r.budget_flops - 1) < 0.1 for r in iso)
    assert design.est_seconds == pytest.approx(sum(r.est_seconds for r in design.runs))
    assert design.est_usd is None and "assumed" in design.throughput_source


def test_ladder_design_scales_to_a_gpu_time_budget():
    design = design_ladder(LadderRequest(preset="gpu", device="cuda", gpu_hours=0.5))
    assert design.est_gpu_hours == pytest.approx(0.5, rel=0.1)  # budgets are rounded to 2 digits
    assert design.est_usd is None or design.est_usd > 0


@pytest.mark.parametrize("bad, message", [
    ({"preset": "huge"}, "unknown ladder preset"),
    ({"budgets_flops": [1e10]}, "2 to 5 positive FLOP budgets"),
    ({"budgets_flops": [1e10, -1.0]}, "2 to 5 positive FLOP budgets"),
])
def test_ladder_request_errors(bad, message):
    with pytest.raises(Exception, match=message):
        design_ladder(LadderRequest(**bad))


def test_too_small_a_time_budget_is_refused_with_the_minimum_that_works():
    """0.0001 hours used to design one run with "only 0 model sizes" warnings and a "0.0 min" estimate."""
    with pytest.raises(PlannerError, match="too small for a ladder") as err:
        design_ladder(LadderRequest(preset="tiny", gpu_hours=1e-4))
    minimum = float(str(err.value).split("give at least ")[1].split(" hours")[0])
    design = design_ladder(LadderRequest(preset="tiny", gpu_hours=minimum))  # the quoted minimum works
    budgets = {r.budget_flops for r in design.runs if r.role == "isoflop"}
    assert len(budgets) == 3
    assert all(sum(r.budget_flops == b for r in design.runs) >= 3 for b in budgets)
    with pytest.raises(PlannerError, match="too small for a ladder"):
        design_ladder(LadderRequest(preset="tiny", gpu_hours=minimum / 2))


def test_a_huge_time_budget_is_refused_and_durations_read_well():
    """1e6 hours used to be accepted, with an estimate of "60493838.3 min"."""
    with pytest.raises(PlannerError, match="at most 1000 hours"):
        design_ladder(LadderRequest(preset="tiny", gpu_hours=1e6))
    with pytest.raises(PlannerError, match="lower the budgets"):
        design_ladder(LadderRequest(preset="tiny", budgets_flops=[1e20, 3e20, 1e21]))
    assert [fmt.duration(s) for s in (0.2, 42, 186, 3 * 3600, 5 * 86400, 115 * 365.25 * 86400)] == \
        ["< 1 s", "42 s", "3.1 minutes", "3.0 hours", "5.0 days", "115 years"]


def test_cuda_time_and_cost_follow_the_accelerator_and_unknown_ones_are_refused():
    h100 = design_ladder(LadderRequest(preset="gpu", device="cuda"))
    a100 = design_ladder(LadderRequest(preset="gpu", device="cuda", accelerator="A100-80GB"))
    assert "40% MFU on H100-SXM" in h100.throughput_source and "A100-80GB" in a100.throughput_source
    assert a100.est_seconds / h100.est_seconds == pytest.approx(989 / 312, rel=0.01)  # dense BF16 peaks
    assert a100.est_usd > 0 and h100.est_usd > 0
    for bad in ("xyz", "TPU"):
        with pytest.raises(PlannerError, match="unknown accelerator"):
            design_ladder(LadderRequest(preset="gpu", device="cuda", accelerator=bad))


class _Job:
    def __init__(self, started_at=None, finished_at=None):
        self.started_at, self.finished_at = started_at, finished_at


def _status(name, status, progress):
    return LadderRunStatus(job_id=0, name=name, role="isoflop", budget_flops=1.0, params=1.0, tokens=1, flops=1.0,
                           status=status, progress=progress)


def test_eta_early_on_stays_near_the_design_estimate():
    """QA: the first live ETA said 66.8 min for a ladder estimated at 3.1 min that took 1.5 min: 40 s of
    worker start-up over 1% progress. The ETA must stay near the estimate until the runs show otherwise."""
    est = {f"r{i}": 186.0 / 12 for i in range(12)}  # 3.1 min in all
    runs = [_status("r0", "running", 0.1)] + [_status(f"r{i}", "queued", 0.0) for i in range(1, 12)]
    jobs = [_Job(started_at=0.0)] + [_Job() for _ in range(11)]
    eta = estimate_eta(est, runs, jobs, now=40.0)
    assert 150 < eta < 250  # the design's ~184 s left, not 40 s / 0.8% ≈ 80 min
    # later, half the runs done at half the estimated time each: the ETA follows the measured pace
    runs = [_status(f"r{i}", "done", 1.0) for i in range(6)] + [_status(f"r{i}", "queued", 0.0) for i in range(6, 12)]
    jobs = [_Job(7.75 * i, 7.75 * (i + 1)) for i in range(6)] + [_Job() for _ in range(6)]
    eta = estimate_eta(est, runs, jobs, now=46.5)
    assert 93 * 0.5 < eta < 93 * 0.65  # 93 s left by the estimate, runs go twice as fast


def test_fit_recovers_a_known_law_and_predicts_the_holdout():
    """Losses made by Hoffmann's law on the GPU preset's design: the fit must find that law's exponents."""
    law = get_law(DEFAULT_LAW)
    design = design_ladder(LadderRequest(preset="gpu", device="cuda", sizes_per_budget=7, size_spread=8))
    runs = [LadderRunStatus(job_id=i, name=r.name, role=r.role, budget_flops=r.budget_flops, params=r.params,
                            tokens=r.tokens, flops=r.flops, final_loss=float(law.loss(r.params, r.tokens)),
                            status="done") for i, r in enumerate(design.runs)]
    fit = fit_ladder(runs, sorted({r.budget_flops for r in design.runs if r.role == "isoflop"}))
    assert fit.method == "approach2" and fit.approach3 is not None
    assert fit.a == pytest.approx(law.a, abs=0.08)
    assert fit.approach3.alpha == pytest.approx(law.alpha, rel=0.05)
    held = next(r for r in runs if r.role == "holdout")
    predicted = predict_holdout(fit, held)
    assert predicted["approach3"] == pytest.approx(held.final_loss, rel=0.01)
    assert predicted["approach2"] == pytest.approx(held.final_loss, rel=0.03)


def test_a_fit_on_its_bounds_predicts_nothing_rather_than_failing():
    """Approach 3 on a handful of runs can end with E = 0; the held-out check must then skip it."""
    fit = LadderFit(approach3=ParametricFit(method="approach3", n_points=6, n_runs=6, E=0.0, A=10.0, B=10.0,
                                            alpha=0.3, beta=0.3, objective=0.0, delta=1e-3, loss_function="huber",
                                            n_starts=1))
    held = LadderRunStatus(job_id=1, name="h", role="holdout", budget_flops=1e10, params=1e4, tokens=10**5,
                           flops=1e10, status="done")
    assert predict_holdout(fit, held) == {}
