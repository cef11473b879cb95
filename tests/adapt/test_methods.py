"""The method classes (planner/adapt/methods): one peft target matcher, knobs validated in one place, and
adding a method = one class + register(), with nothing else to touch (proved with a toy method)."""
import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from planner.adapt import methods
from planner.adapt.estimate import AdaptRequest, compare, estimate
from planner.adapt.measure import AdaptRunSpec, base_model, build_variant, count_trainable, run_adaptation
from planner.adapt.methods.base import AdaptMethod, freeze_all, matches, select_linears
from planner.core.architecture import get_preset
from planner.errors import PlannerError
from planner.views import adapt as views
from tests.conftest import REPO



@pytest.mark.parametrize("name, target, expected", [
    ("self_attn.q_proj", "q_proj", True),
    ("self_attn.q_proj", "self_attn.q_proj", True),
    ("mlp.c_proj", "c_proj", True),
    ("attn.c_proj", "mlp.c_proj", False),
    ("self_attn.q_proj", "proj", False),     # a bare endswith() would say True; peft says no
    ("self_attn.q_proj", "_proj", False),
    ("self_attn.q_proj", "attn.q", False),
])
def test_one_matcher_follows_peft(name, target, expected):
    assert matches(name, target) is expected


def test_matcher_agrees_with_peft_on_a_real_model():
    """peft's own matching on a tiny Llama: the layers it wraps are exactly the ones select_linears names."""
    from peft import LoraConfig, get_peft_model

    cfg = get_preset("tiny")
    for targets in (["q_proj", "v_proj"], ["self_attn.o_proj", "down_proj"]):
        model = get_peft_model(base_model(cfg), LoraConfig(r=2, target_modules=targets))
        wrapped = {n.split("layers.0.")[1] for n, m in model.named_modules()
                   if "layers.0." in n and hasattr(m, "lora_A") and not n.endswith(("lora_A", "lora_B"))}
        assert wrapped == {m.name for m in select_linears(cfg, targets)}
    with pytest.raises(PlannerError, match="not found"):
        select_linears(cfg, ["proj"])


def test_knob_errors_name_the_knob_and_the_limit():
    with pytest.raises(PlannerError, match=r"^LoRA rank must be at least 1 \(got 0\)$"):
        methods.get_method("lora").knobs(AdaptRequest(rank=0))
    with pytest.raises(PlannerError, match=r"LoRA alpha must be above 0 \(got -1"):
        methods.get_method("lora").knobs(AdaptRequest(alpha=-1))
    with pytest.raises(PlannerError, match=r"LoRA alpha must be a finite number \(got inf\)"):  # was accepted
        methods.get_method("lora").knobs(AdaptRequest(alpha=float("inf")))
    assert methods.get_method("full").knobs(AdaptRequest(rank=0)) is not None  # full FT reads no rank


def test_every_method_has_its_own_colour_label_and_rate():
    every = list(methods.REGISTRY.values())
    assert len({m.colour for m in every}) == len(every) and all(m.label for m in every)
    assert all(m.learning_rate > 0 for m in every if m.trains)
    assert sum(m.is_reference for m in every) == 1


def test_no_branch_on_a_method_name_outside_its_class():
    """No `x == "lora"` / `x in ("prompt", ...)` anywhere in the adapt package, its views, page or CLI."""
    names = set(methods.method_names())
    files = [*(REPO / "planner" / "adapt").glob("*.py"), REPO / "planner" / "views" / "adapt.py",
             REPO / "pages" / "adapt.py", REPO / "planner" / "commands" / "adapt.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)]
                assert not names & set(consts), (path.name, node.lineno)


class ScaleKnobs(BaseModel):
    scale_init: float = Field(1.0, gt=0, title="initial scale")


class FinalNormTuning(AdaptMethod):
    """A toy method in one class: trains only the final norm's weight (d_model parameters)."""

    name, label, colour = "final-norm", "Final-norm tuning (toy)", "rgb(1, 2, 3)"
    trains_base = True
    Knobs = ScaleKnobs

    def trainable_params(self, cfg, req):
        return cfg.d_model

    def build(self, model, cfg, req):
        freeze_all(model)
        model.model.norm.weight.requires_grad_(True)
        return model


@pytest.fixture
def toy():
    method = methods.register(FinalNormTuning())
    yield method
    methods.unregister(method.name)


def test_adding_a_method_is_one_class(toy):
    cfg = get_preset("tiny")
    est = estimate("llama-2-7b", AdaptRequest(method="final-norm"))
    assert est.trainable_params == 4096 and est.memory.grads_gb == pytest.approx(2 * 4096 / 1e9)
    comparison = compare("llama-2-7b", AdaptRequest())
    assert comparison.estimates[-1].method == "final-norm"
    assert "Final-norm tuning (toy)" in list(views.cost_table(comparison)["method"])
    assert views.trainable_figure(comparison).data[0].marker.color[-1] == "rgb(1, 2, 3)"
    model = build_variant(base_model(cfg), cfg, AdaptRequest(method="final-norm"))
    assert count_trainable(model) == estimate(cfg, AdaptRequest(method="final-norm")).trainable_params
    # its own knob, validated in one place, given through the request's options
    with pytest.raises(PlannerError, match="initial scale"):
        estimate("llama-2-7b", AdaptRequest(method="final-norm", options={"scale_init": -1}))
    with pytest.raises(PlannerError, match="a new, non-empty name"):
        methods.register(FinalNormTuning())


def test_a_registered_method_runs_measured(toy):
    result = run_adaptation(AdaptRunSpec(methods=["final-norm"], steps=2, base_steps=0, evals=1,
                                         corpus_bytes=60_000, base_corpus_bytes=200_000,
                                         knobs=AdaptRequest(micro_batch=2, seq_len=32, precision="fp32")))
    run = result.runs[0]
    assert run.done and run.trainable_params == run.estimated_trainable_params == 128
    assert len(run.train_curve) == 2


def test_a_lora_rank_past_the_matrices_is_refused():
    """Rank 100,000 on llama-2-7b counted 52B trainable parameters, 8x the model."""
    with pytest.raises(PlannerError, match="LoRA rank 100,000 is above 4,096"):
        estimate("llama-2-7b", AdaptRequest(method="lora", rank=100_000))
    assert estimate("llama-2-7b", AdaptRequest(method="qlora", rank=4096)).trainable_params > 0


def test_nothing_fits_advice_never_asks_for_what_is_on():
    """With checkpointing already on, 'turn on gradient checkpointing' was the first advice."""
    on = compare("llama-2-70b", AdaptRequest(gradient_checkpointing=True, accelerator="L4"), ["full", "lora"])
    off = compare("llama-2-70b", AdaptRequest(gradient_checkpointing=False, accelerator="L4"), ["full", "lora"])
    assert on.cheapest_fitting is None and "gradient checkpointing" not in on.advice
    assert "turn on gradient checkpointing" in off.advice


def test_adaptation_data_past_any_corpus_is_refused():
    with pytest.raises(PlannerError, match="dataset tokens x epochs = 1e\\+300"):
        compare("llama-2-7b", AdaptRequest(dataset_tokens=1e300))
