"""The run-recipe CLI as a subprocess: optimal (inference-aware, over-training, repeated data), hparams,
claim, quoted, vision."""
import json


def test_inference_aware_optimal(run_cli):
    out = run_cli("optimal", "--flops", "5.76e23", "--inference-tokens", "1e13", "--gpu", "H100", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"params", "tokens", "loss", "training_flops", "inference_flops", "total_flops", "usd"} <= set(data)
    assert data["params"] < data["chinchilla"]["params"] and data["total_flops"] < data["chinchilla"]["total_flops"]


def test_fixed_run_penalty_and_epochs(run_cli):
    out = run_cli("optimal", "--params", "8e9", "--tokens", "15e12", "--unique-tokens", "3e12", "--json")
    data = json.loads(out.stdout)
    assert data["answer"]["loss_penalty"] > 0 and data["answer"]["extra_compute"] > 1
    assert data["data_limits"]["epochs"] == 5 and "epochs" in data["data_limits"]["warning"]


def test_hparams_json(run_cli):
    data = json.loads(run_cli("hparams", "--flops", "1e23", "--json").stdout)
    assert {"lr", "batch_tokens", "law"} <= set(data) and data["law"] == "deepseek2024"
    assert len(data["rules"]) == 2
    data = json.loads(run_cli("hparams", "--params", "7e9", "--tokens", "2e12", "--json").stdout)
    assert data["params"] == 7e9


def test_claim_json(run_cli):
    out = run_cli("claim", "--params", "70e9", "--tokens", "2e12", "--quoted", "6000 PF-days", "--json")
    data = json.loads(out.stdout)
    assert {"flops", "quoted_flops", "disagreement", "flagged", "explanation"} <= set(data)
    assert data["flops"] == 8.4e23 and data["flagged"] is True


def test_quoted_and_vision_listings(run_cli):
    assert len(json.loads(run_cli("quoted", "--json").stdout)) == 6
    vision = json.loads(run_cli("vision", "--preset", "clip-vit-l-14", "--json").stdout)
    assert vision[0]["params"]["total"] == 427_616_513


def test_recipe_errors_are_one_line(run_cli):
    for args in (["optimal", "--flops", "1e22", "--inference-tokens", "1e12", "--law", "kaplan2020"],
                 ["optimal", "--params", "7e9", "--inference-tokens", "1e12"],
                 ["optimal", "--flops", "1e22", "--params", "7e9"],
                 ["hparams", "--params", "7e9"], ["claim", "--params", "7e9", "--tokens", "1e12", "--quoted", "x"],
                 ["vision", "--preset", "nope"]):
        out = run_cli(*args)
        assert out.returncode == 2, args
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
