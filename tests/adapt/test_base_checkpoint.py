"""Issue 8: an adaptation's base weights come only from this store's finished verification runs, loaded with
weights_only=True. A pickle planted where a finished job's checkpoint lives is refused and never runs."""
import json

import pytest
import torch

from planner.adapt import job as adapt_jobs
from planner.adapt.measure import AdaptRunSpec, load_base_weights, run_adaptation
from planner.adapt.estimate import AdaptRequest
from planner.core.architecture import get_preset
from planner.errors import PlannerError
from planner.jobs import JobStore
from planner.jobs.retention import checkpoint_dir_for
from planner.train.corpus import CorpusSpec
from planner.train.loop import CHECKPOINT, TrainConfig
from planner.train.model import build_model
from planner.verify.job import TrainSpec


class Exploit:
    """What an attacker pickles: unpickling it calls Path.touch(marker), i.e. runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


def _finished_train_job(status: str = "done", kind: str = "train") -> int:
    """A verification job as the worker leaves it: a tiny model, a small corpus, finished."""
    spec = TrainSpec(model=get_preset("tiny"), train=TrainConfig(tokens=64 * 8, batch_size=8, seq_len=32),
                     corpus=CorpusSpec(max_bytes=200_000, heldout_fraction=0.1))
    store = JobStore()
    job_id = store.submit(kind, spec.model_dump(), group="ladder-x", device="cpu")
    store.finish(job_id, status, result={"final_loss": 5.0})
    return job_id


def _plant(job_id: int, payload) -> None:
    folder = checkpoint_dir_for(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(payload, folder / CHECKPOINT)


def test_planted_pickle_checkpoint_does_not_run(tmp_path, run_cli):
    marker = tmp_path / "pwned"
    job_id = _finished_train_job()
    _plant(job_id, {"model": Exploit(marker), "step": 1})
    with pytest.raises(PlannerError, match=f"refused to load the checkpoint of job {job_id}"):
        load_base_weights(job_id)
    with pytest.raises(PlannerError, match="weights_only=True"):
        run_adaptation(AdaptRunSpec(base_job=job_id, methods=["lora"], steps=1))
    with pytest.raises(PlannerError, match="refused"):
        adapt_jobs.submit(AdaptRunSpec(base_job=job_id, methods=["lora"]), start_worker=False)
    assert JobStore().list_jobs(kind="adapt") == []  # nothing queued
    out = run_cli("adapt", "--base-job", job_id, "--methods", "lora", "--steps", "1")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "refused to load" in out.stderr
    assert not marker.exists()  # the planted code never ran, in this process or the CLI's


@pytest.mark.parametrize("kind", ["ladder-run", "train"])
def test_finished_ladder_runs_of_either_kind_name_are_bases(kind):
    """Ladders queue "ladder-run" jobs; jobs queued before the rename are "train": both are offered."""
    job_id = _finished_train_job(kind=kind)
    weights = build_model(get_preset("tiny")).state_dict()
    _plant(job_id, {"model": weights})
    assert [j.id for j in adapt_jobs.base_jobs()] == [job_id]
    assert set(load_base_weights(job_id)) == set(weights)


def test_checkpoint_path_flag_is_gone(run_cli):
    """The CLI takes a job id, never a path: the old --checkpoint flag is refused."""
    out = run_cli("adapt", "--checkpoint", "/tmp/x.pt", "--methods", "lora")
    assert out.returncode == 2 and "unrecognized arguments: --checkpoint" in out.stderr


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_only_finished_verification_runs_are_bases(status):
    job_id = _finished_train_job(status)
    _plant(job_id, {"model": build_model(get_preset("tiny")).state_dict()})
    assert adapt_jobs.base_jobs() == []
    with pytest.raises(PlannerError, match=f"is {status}"):
        load_base_weights(job_id)


def test_an_adapt_job_is_not_a_base():
    store = JobStore()
    job_id = store.submit("adapt", {"methods": ["lora"]}, group="adapt", device="cpu")
    store.finish(job_id, "done", result={})
    with pytest.raises(PlannerError, match="finished verification run"):
        load_base_weights(job_id)


def test_weights_of_another_model_are_a_clear_error():
    job_id = _finished_train_job()
    _plant(job_id, {"model": build_model(get_preset("tiny-gpt2")).state_dict()})
    with pytest.raises(PlannerError, match="does not fit the tiny model"):
        run_adaptation(AdaptRunSpec(base_job=job_id, methods=["zero-shot"], steps=1, corpus_bytes=60_000))


def test_missing_checkpoint_and_unknown_job_are_clear():
    job_id = _finished_train_job()
    with pytest.raises(PlannerError, match="no checkpoint left"):
        load_base_weights(job_id)
    with pytest.raises(PlannerError):
        load_base_weights(9999)


def test_an_upload_is_never_a_checkpoint(tmp_path):
    """An uploaded corpus is saved only after the launch's checks pass, and only ever read as text."""
    job_id = _finished_train_job()
    _plant(job_id, {"model": Exploit(tmp_path / "pwned")})
    with pytest.raises(PlannerError):
        adapt_jobs.submit(AdaptRunSpec(base_job=job_id, methods=["lora"]), start_worker=False,
                          upload=("notes.txt", b"some text\n\n\nmore"))
    from planner.core.settings import data_dir

    assert not (data_dir() / "uploads").exists()  # the refused launch wrote nothing


def test_a_real_verification_checkpoint_is_the_base():
    """A plain-tensor checkpoint (what the trainer writes) loads, and the run adapts that model with the
    verification run's own tokenizer."""
    job_id = _finished_train_job()
    model = build_model(get_preset("tiny"), seed=3)
    _plant(job_id, {"model": model.state_dict(), "step": 8, "config": {"lr": 1e-3}})
    weights = load_base_weights(job_id)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert [j.id for j in adapt_jobs.base_jobs()] == [job_id]
    assert adapt_jobs.base_job_label(adapt_jobs.base_jobs()[0]).startswith(f"job {job_id}: tiny")
    result = run_adaptation(AdaptRunSpec(base_job=job_id, methods=["zero-shot"], steps=1, evals=1,
                                         corpus_bytes=60_000,
                                         knobs=AdaptRequest(micro_batch=2, seq_len=32, precision="fp32")))
    assert result.base == f"verification job {job_id} (tiny)"
    assert result.runs[0].done and result.base_eval_loss > 0
    json.dumps(result.model_dump())  # a job result: plain JSON
