"""Measured adaptation runs on CPU: the same base, data and steps for every method; measured trainable
parameters and memory next to the estimate; the "adapt" job kind through the real job store and worker."""
import math
import os

import pytest

from planner.adapt.measure import AdaptRunSpec, run_adaptation
from planner.adapt.estimate import AdaptRequest

pytestmark = pytest.mark.slow

METHODS = ["full", "lora", "qlora", "prompt", "prefix", "ia3", "bitfit", "linear-probe", "zero-shot"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """One real tiny comparison (a few seconds per method), shared by the tests of this module."""
    old = os.environ.get("SCALEPLAN_HOME")
    os.environ["SCALEPLAN_HOME"] = str(tmp_path_factory.mktemp("adapt-home"))
    try:
        spec = AdaptRunSpec(methods=METHODS, steps=6, base_steps=4, evals=2, corpus_bytes=60_000,
                            base_corpus_bytes=200_000,
                            knobs=AdaptRequest(micro_batch=4, seq_len=32, precision="fp32", virtual_tokens=8))
        return run_adaptation(spec)
    finally:
        if old is None:
            os.environ.pop("SCALEPLAN_HOME")
        else:
            os.environ["SCALEPLAN_HOME"] = old


def _runs(result):
    return {r.method: r for r in result.runs}


def test_every_method_ran_or_says_why(result):
    runs = _runs(result)
    assert list(runs) == METHODS
    assert runs["qlora"].status == "skipped: needs CUDA + bitsandbytes"
    assert runs["qlora"].estimated_memory_gb > 0  # estimated even when it cannot run here
    for name in METHODS:
        if name != "qlora":
            assert runs[name].status == "done", (name, runs[name].status)
            assert math.isfinite(runs[name].final_eval_loss)


def test_measured_trainable_params_equal_the_estimate(result):
    for run in result.runs:
        if run.status == "done":
            assert run.trainable_params == run.estimated_trainable_params, run.method


def test_weights_grads_and_optimizer_bytes_match_the_estimate(result):
    """On CPU every byte of parameters, gradients and AdamW states is counted; the estimate must agree."""
    for run in result.runs:
        if run.status != "done":
            continue
        measured, est = run.measured_memory, run.estimated_memory
        assert measured["weights_gb"] == pytest.approx(est["weights_gb"] + est["adapter_gb"], rel=0.02), run.method
        assert measured["grads_gb"] == pytest.approx(est["grads_gb"], rel=1e-6, abs=1e-12), run.method
        assert measured["optimizer_gb"] == pytest.approx(est["optimizer_gb"], rel=1e-6, abs=1e-12), run.method


def test_curves_are_recorded(result):
    for run in result.runs:
        if run.status == "done" and run.method != "zero-shot":
            assert len(run.train_curve) == 6 and len(run.eval_curve) == 2
            assert run.tokens_per_s > 0 and run.wall_s > 0
            assert [p["seconds"] for p in run.eval_curve] == sorted(p["seconds"] for p in run.eval_curve)
    assert result.base_eval_loss == _runs(result)["zero-shot"].final_eval_loss


def test_unknown_method_fails_before_training():
    from planner.errors import PlannerError

    with pytest.raises(PlannerError, match="unknown adaptation method"):
        run_adaptation(AdaptRunSpec(methods=["lora", "dora"]))


def test_adapt_job_kind_runs_in_a_worker():
    from planner.jobs import JobStore
    from planner.jobs.worker import run_worker

    spec = AdaptRunSpec(methods=["lora", "qlora"], steps=2, base_steps=0, evals=1, corpus_bytes=60_000,
                        base_corpus_bytes=200_000, knobs=AdaptRequest(micro_batch=2, seq_len=32, precision="fp32"))
    store = JobStore()
    job_id = store.submit("adapt", spec.model_dump(), group="adapt", device="cpu")
    run_worker("cpu", max_jobs=1)
    job = store.get(job_id)
    assert job.status == "done", job.error
    assert [r["status"] for r in job.result["runs"]] == ["done", "skipped: needs CUDA + bitsandbytes"]
    assert job.result["base"].startswith("random initialisation")
    logged = store.metrics(job_id)
    assert logged and all(m["method"] == "lora" for m in logged) and logged[-1]["progress"] > 0


def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    from planner.errors import PlannerError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(PlannerError, match="no CUDA GPU"):
        run_adaptation(AdaptRunSpec(device="cuda"))


def test_uploaded_corpus_is_kept_and_validated():
    """A launch with an upload keeps it (planner.train.corpus.save_upload) and queues the job on that file."""
    from planner.adapt.job import submit
    from planner.errors import PlannerError
    from planner.jobs import JobStore

    job_id = submit(AdaptRunSpec(methods=["zero-shot"]), start_worker=False,
                    upload=("notes.txt", b"some text\n\n\nmore text"))
    path = JobStore().get(job_id).spec["corpus"]
    assert open(path, "rb").read() == b"some text\n\n\nmore text"
    with pytest.raises(PlannerError, match=".txt or .jsonl"):
        submit(AdaptRunSpec(methods=["zero-shot"]), start_worker=False, upload=("notes.pdf", b"%PDF"))


def test_a_launch_with_knobs_the_loop_ignores_is_refused_before_anything_is_queued():
    from planner.adapt.job import jobs, submit
    from planner.errors import PlannerError

    knobs = AdaptRequest(micro_batch=2, seq_len=32, precision="fp32", gradient_checkpointing=True)
    with pytest.raises(PlannerError, match="without gradient checkpointing"):
        submit(AdaptRunSpec(methods=["lora"], knobs=knobs), start_worker=False)
    with pytest.raises(PlannerError, match="SDPA attention"):
        run_adaptation(AdaptRunSpec(methods=["lora"], knobs=knobs.model_copy(
            update={"gradient_checkpointing": False, "attention": "eager"})))
    assert jobs() == []
