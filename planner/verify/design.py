"""Ladder designs: which runs a verification ladder trains, and what they will cost before launch.

A design family member turns one budget grid into runs. Two members:
- "isoflop" (Hoffmann et al. 2022, §3.2): for each budget, `sizes_per_budget` models trained from
  scratch on that budget, plus one larger held-out run;
- "wsd" (planner.verify.wsd): one warmup-stable-decay run per size with cooldown branches at several
  token horizons, on the same budget grid; the same held-out (N, D) point, as one more cooldown branch
  of the largest size's stable run rather than a run from scratch.
Both are checked and scaled to a device-time budget the same way, so they compare on equal terms.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, Field

from planner.core import format as fmt
from planner.core.budget import SECONDS_PER_HOUR, gpu_hours_to_usd
from planner.core.settings import data_dir
from planner.errors import PlannerError
from planner.train.corpus import CorpusSpec, estimated_bytes
from planner.train.loop import TrainConfig
from planner.verify.grid import (DEFAULT_ACCELERATOR, MIN_BUDGETS, MIN_SIZES, MIN_STEPS, Grid, LadderPreset,
                                 LadderRequest, LadderRun, make_run, measured_throughput, sizes_for)
from planner.verify.wsd import wsd_runs

BYTES_PER_TOKEN = 3.0  # byte-level BPE on source code, vocab 8k-32k (~2.3 at vocab 512): a rough guide
MAX_EPOCHS = 4  # Muennighoff et al. 2023: up to ~4 epochs of repeated data are almost as good as fresh
MAX_GPU_HOURS = 1000.0  # ~6 weeks of one device: beyond it, a "verification" ladder is a training campaign


class LadderDesign(BaseModel):
    request: LadderRequest
    design: str = "isoflop"
    device: str
    runs: list[LadderRun]
    train: TrainConfig = Field(description="shared training settings; each run sets its own tokens")
    corpus: CorpusSpec
    total_flops: float = Field(description="compute the runs spend (a cooldown counts only its own steps)")
    est_seconds: float = Field(description="sum over runs, on one device slot")
    est_gpu_hours: float | None
    est_usd: float | None
    throughput_flops_per_s: float
    throughput_source: str
    warnings: list[str] = []


@dataclass(frozen=True)
class DesignFamily:
    """One way to turn a budget grid into runs. `fit_methods`: the fits its points support."""

    name: str
    label: str
    # (grid, IsoFLOP runs, notes, held-out run from scratch) -> (the design's runs, held-out last; notes)
    runs: Callable[[Grid, list[LadderRun], list[str], LadderRun], tuple[list[LadderRun], list[str]]]
    fit_methods: tuple[str, ...]


def _isoflop_runs(g: Grid) -> tuple[list[LadderRun], list[str]]:
    runs, warnings = [], []
    for budget in g.budgets:
        for cfg in sizes_for(budget, g, g.sizes):
            run = make_run(f"C{budget:.2g}-{cfg.name}", "isoflop", budget, cfg, g)
            if run.flops > 1.1 * budget:  # off the IsoFLOP curve: it would only bias the parabola
                warnings.append(f"{run.name} left out: {MIN_STEPS} steps already cost {run.flops:.3g} FLOPs")
                continue
            runs.append(run)
    return runs, warnings


def _thin_budgets(runs: list[LadderRun], g: Grid) -> list[str]:
    counts = {b: sum(r.budget_flops == b for r in runs) for b in g.budgets}
    return [f"budget {b:.2g} FLOPs: only {n} model sizes (shapes ran out at the small end, or runs were too "
            "short); its parabola is less certain" for b, n in counts.items() if n < g.sizes]


DESIGNS: dict[str, DesignFamily] = {d.name: d for d in [
    DesignFamily("isoflop", "IsoFLOP (every run from scratch)",
                 lambda g, iso, notes, held: (iso + [held], notes + _thin_budgets(iso, g)), ("approach2", "approach3")),
    DesignFamily("wsd", "WSD (one run per size + cooldown branches)",
                 lambda g, iso, notes, held: wsd_runs(g, min(r.params for r in iso), held), ("approach3",)),
]}


def get_design(name: str) -> DesignFamily:
    if name not in DESIGNS:
        raise PlannerError(f"unknown ladder design {name!r}; choose one of: {', '.join(DESIGNS)}")
    return DESIGNS[name]


# ---------------------------------------------------------------------------------------- budgets
def _scaled_budgets(req: LadderRequest, preset: LadderPreset, rate: float, sizes: int) -> list[float]:
    """The largest budget C whose IsoFLOP ladder (sizes x budgets falling by budget_ratio, plus the
    held-out run) fits in gpu_hours at the measured rate; keeps the preset's number of budgets."""
    count, holdout = len(preset.budgets_flops), req.holdout_factor or preset.holdout_factor
    available = req.gpu_hours * 3600 * rate
    per_top = sizes * sum(req.budget_ratio ** -i for i in range(count)) + holdout
    top = float(f"{available / per_top:.2g}")
    return [top / req.budget_ratio ** i for i in reversed(range(count))]


def _usable_budgets(runs: list[LadderRun], budgets: list[float]) -> int:
    return sum(sum(r.budget_flops == b for r in runs) >= MIN_SIZES for b in budgets)


def _enough(runs, budgets) -> bool:
    return _usable_budgets(runs, budgets) >= min(MIN_BUDGETS, len(budgets))


def _minimum_gpu_hours(g: Grid) -> float:
    """The smallest device-time budget whose scaled ladder has enough usable budgets x sizes
    (a geometric bisection; each step only shapes models, it trains nothing)."""
    def ok(hours):
        req = g.req.model_copy(update={"gpu_hours": hours})
        budgets = _scaled_budgets(req, g.preset, g.rate, g.sizes)
        return _enough(_isoflop_runs(Grid(budgets, g.req, g.preset, g.train, g.rate, g.sizes))[0], budgets)

    lo, hi = g.req.gpu_hours, g.req.gpu_hours
    while not ok(hi) and hi < MAX_GPU_HOURS:
        lo, hi = hi, hi * 4
    for _ in range(8):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def _check_budgets(runs, g: Grid) -> None:
    if _enough(runs, g.budgets):
        return
    need = f"at least {min(MIN_BUDGETS, len(g.budgets))} budgets with {MIN_SIZES}+ model sizes each"
    got = _usable_budgets(runs, g.budgets)
    if g.req.gpu_hours:
        minimum = _minimum_gpu_hours(g)
        raise PlannerError(f"a device-time budget of {g.req.gpu_hours:.3g} hours is too small for a ladder ({need}; "
                           f"got {got}): give at least {_round_up(minimum):.2g} hours "
                           f"({fmt.duration(_round_up(minimum) * 3600)}), or none (0 on the page) for the "
                           "preset's budgets")
    raise PlannerError(f"these FLOP budgets are too small for a ladder ({need}; got {got}, "
                       f"since every run needs {MIN_STEPS}+ steps): raise the smallest budget")


def _round_up(x: float) -> float:
    """Up to two significant figures, so the minimum we quote is never just below the real one."""
    step = 10 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / step) * step


# ---------------------------------------------------------------------------------------- design
def _grid(req: LadderRequest) -> tuple[Grid, str]:
    preset = req.resolved_preset()
    get_design(req.design)
    if req.gpu_hours and req.gpu_hours > MAX_GPU_HOURS:
        raise PlannerError(f"a device-time budget of {req.gpu_hours:.3g} hours ({fmt.duration(req.gpu_hours * 3600)}) "
                           f"is far beyond a verification ladder: give at most {MAX_GPU_HOURS:.0f} hours "
                           f"({fmt.duration(MAX_GPU_HOURS * 3600)}); the presets take minutes")
    sizes = req.sizes_per_budget or preset.sizes_per_budget
    rate, source = measured_throughput(req.device, req.accelerator)
    budgets = req.budgets_flops or preset.budgets_flops
    if req.gpu_hours:
        budgets = _scaled_budgets(req, preset, rate, sizes)
    train = TrainConfig(tokens=1, batch_size=preset.batch_size, seq_len=preset.seq_len, lr=preset.lr,
                        seed=req.seed, device=req.device, checkpoint_every_s=preset.checkpoint_every_s)
    return Grid(list(budgets), req, preset, train, rate, sizes), source


def _holdout(g: Grid) -> LadderRun:
    """One larger run outside the fit, trained from scratch with the cosine schedule (the WSD design
    obtains the same (N, D) point as a cooldown branch instead)."""
    budget = max(g.budgets) * (g.req.holdout_factor or g.preset.holdout_factor)
    held = sizes_for(budget, g, 1, spread=1.0001)[0]
    return make_run(f"holdout-C{budget:.2g}-{held.name}", "holdout", budget, held, g)


def _epochs_warning(corpus: CorpusSpec, runs: list[LadderRun]) -> list[str]:
    corpus_tokens = estimated_bytes(corpus) * (1 - corpus.heldout_fraction) / BYTES_PER_TOKEN
    epochs = max(r.tokens for r in runs) / max(corpus_tokens, 1.0)
    if epochs <= MAX_EPOCHS:
        return []
    return [f"the largest run reads the corpus about {epochs:.0f} times (~{corpus_tokens:.2g} training tokens); "
            f"beyond ~{MAX_EPOCHS} epochs repeated data lowers the losses' worth (Muennighoff et al. 2023): "
            "point the ladder at a larger corpus"]


def design_ladder(req: LadderRequest) -> LadderDesign:
    g, source = _grid(req)
    iso, notes = _isoflop_runs(g)
    _check_budgets(iso, g)
    runs, warnings = get_design(req.design).runs(g, iso, notes, _holdout(g))
    corpus = req.corpus or CorpusSpec(max_bytes=g.preset.corpus_max_bytes)
    warnings = warnings + _epochs_warning(corpus, runs)
    seconds = sum(r.est_seconds for r in runs)
    if seconds > MAX_GPU_HOURS * 3600:
        hint = (" or run it on a GPU (device cuda): the gpu preset is sized for one"
                if req.device == "cpu" and req.preset == "gpu" else "")
        raise PlannerError(f"this ladder would take ~{fmt.duration(seconds)} on one {req.device} device, more than "
                           f"{MAX_GPU_HOURS:.0f} hours: lower the budgets{hint}")
    hours, usd = _gpu_cost(req, seconds)
    return LadderDesign(request=req, design=req.design, device=req.device, runs=runs, train=g.train,
                        corpus=corpus, total_flops=sum(r.device_flops for r in runs), est_seconds=seconds,
                        est_gpu_hours=hours, est_usd=usd, throughput_flops_per_s=g.rate,
                        throughput_source=source, warnings=warnings)


def _gpu_cost(req: LadderRequest, seconds: float) -> tuple[float | None, float | None]:
    """GPU-hours and on-demand dollars on the chosen accelerator (an unknown name is an error)."""
    if req.device == "cpu":
        return None, None
    hours = seconds / SECONDS_PER_HOUR
    return hours, gpu_hours_to_usd(hours, req.accelerator or DEFAULT_ACCELERATOR)


# ---------------------------------------------------------------------------------------- saved designs
def ladder_path(ladder_id: str):
    return data_dir() / "ladders" / f"{ladder_id}.json"


def save_design(ladder_id: str, design: LadderDesign) -> None:
    path = ladder_path(ladder_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(design.model_dump_json())
    except OSError as err:  # read-only or full state directory: one clear line
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)  # no half-written design left behind
        raise PlannerError(f"cannot save the ladder design to {path}: {err.strerror or err}; free space or make "
                           "the state directory writable") from err


def load_design(ladder_id: str) -> LadderDesign:
    path = ladder_path(ladder_id)
    if not path.exists():
        raise PlannerError(f"no ladder {ladder_id!r}; the Runs page and `python -m planner jobs` list them")
    return LadderDesign.model_validate_json(path.read_text())


def list_ladders() -> list[str]:
    folder = data_dir() / "ladders"
    return sorted((p.stem for p in folder.glob("ladder-*.json")), reverse=True) if folder.exists() else []
