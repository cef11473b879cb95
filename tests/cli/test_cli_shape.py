"""The CLI's shape (issue 9): `--gpu` is the one name of the accelerator, with one help text and one default
(planner/core/budget.py, like the default MFU); every bad value of every subcommand is one line on stderr and
exit 2; heavy features are imported only by the handlers that need them, in one visible block each."""
from __future__ import annotations

import argparse
import ast
import inspect
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from planner import catalog
from planner.adapt.methods.base import AdaptRequest
from planner.cli import build_parser, main
from planner.commands import gpu_help
from planner.core import laws
from planner.core.budget import DEFAULT_ACCELERATOR, DEFAULT_MFU
from planner.systems.layout import search_layouts
from planner.verify import grid

REPO = Path(__file__).resolve().parents[2]
COMMANDS_DIR = REPO / "planner" / "commands"
# Commands that take an accelerator; `optimal` prices in dollars only when one is named.
GPU_DEFAULTS = {"plan": DEFAULT_ACCELERATOR, "cost": DEFAULT_ACCELERATOR, "budget": DEFAULT_ACCELERATOR,
                "models": DEFAULT_ACCELERATOR, "parallel": DEFAULT_ACCELERATOR, "ladder": DEFAULT_ACCELERATOR,
                "adapt-estimate": DEFAULT_ACCELERATOR, "optimal": None}
UNKNOWN_GPU = "unknown accelerator 'XYZ'"
# One bad value per subcommand (the accelerator where a command takes one), and the start of its message.
BAD = {
    "laws": (["--bogus"], "unrecognized arguments: --bogus"),
    "optimal": (["--flops", "1e24", "--inference-tokens", "1e12", "--gpu", "XYZ"], UNKNOWN_GPU),
    "plan": (["$2M", "--gpu", "XYZ"], UNKNOWN_GPU),
    "hparams": (["--params", "7e9"], "give --flops, or --params with --tokens"),
    "cost": (["--params", "7e9", "--tokens", "1e12", "--gpu", "XYZ"], UNKNOWN_GPU),
    "budget": (["512 GPUs for 30 days", "--gpu", "XYZ"], UNKNOWN_GPU),
    "gpus": (["--bogus"], "unrecognized arguments: --bogus"),
    "models": (["--gpu", "XYZ"], UNKNOWN_GPU),
    "claim": (["--params", "7e9", "--tokens", "1e12", "--quoted", "lots"], "'lots' is not a compute figure"),
    "quoted": (["--bogus"], "unrecognized arguments: --bogus"),
    "vision": (["--preset", ""], "unknown vision preset ''"),
    "params": (["--preset", "nope"], "unknown model preset 'nope'"),
    "flops-per-token": (["--preset", "llama-2-7b", "--seq", "-5"], "sequence length must be positive"),
    "memory": (["--preset", "llama-2-7b", "--gpus", "0"], "gpus must be a positive whole number"),
    "suggest-shape": (["--params", "-1"], "target parameter count must be positive"),
    "presets": (["--bogus"], "unrecognized arguments: --bogus"),
    "fit": (["no-such-file.csv"], "cannot read no-such-file.csv"),
    "ladder": (["--device", "cuda", "--gpu", "XYZ", "--design-only"], UNKNOWN_GPU),
    "worker": (["--slot", "cuda:abc"], "slot must be 'cpu' or 'cuda:<index>'"),
    "jobs": (["cancel"], "`jobs cancel` needs a job id"),
    "adapt-estimate": (["--gpu", "XYZ"], UNKNOWN_GPU),
    "adapt": (["--methods", "nope"], "unknown adaptation method 'nope'"),
    "parallel": (["--preset", "llama-2-7b", "--gpus", "8", "--gpu", "XYZ"], UNKNOWN_GPU),
    "goodput": (["--bogus"], "unrecognized arguments: --bogus"),
}
MORE_BAD = [
    (["ladder", "--accelerator", "XYZ", "--device", "cuda", "--design-only"], UNKNOWN_GPU),  # the old name
    (["adapt-estimate", "--accelerator", "XYZ"], UNKNOWN_GPU),
    (["ladder", "--corpus", "no-such-corpus.txt", "--design-only"], "--corpus: no such file"),
    (["ladder", "--horizons", "5,ten", "--design", "wsd", "--design-only"], "--horizons must be numbers"),
    (["fit", "data/sample_runs.csv", "--save-as", ""], "law name '' is not allowed"),  # was: fitted, not saved
]
# Function-level imports allowed in planner/commands: each feature's heavy entry point (pandas, scipy, or the
# job system with the trainer), so that `python -m planner laws` starts without them.
HEAVY = ("planner.plan", "planner.fitting", "planner.recipe.inference", "planner.verify", "planner.adapt.measure")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser, _ = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def test_every_accelerator_flag_is_gpu_with_one_help_text_and_the_one_default():
    found = {}
    for name, parser in _subparsers().items():
        options = _options(parser)
        if "--gpu" in options or "--accelerator" in options:
            gpu, alias = options["--gpu"], options["--accelerator"]
            assert gpu.dest == alias.dest == "gpu", name
            assert alias.help == argparse.SUPPRESS and alias.default == argparse.SUPPRESS, name  # hidden alias
            assert gpu.help.endswith(gpu_help(default=gpu.default)), (name, gpu.help)
            found[name] = gpu.default
    assert found == GPU_DEFAULTS


def test_every_mfu_default_is_the_one_in_core_budget():
    """0.4 (REFERENCE.md: PaLM 46.2%, LLaMA-65B ~48%, Llama 3.1 405B 38-43%); adaptation once assumed 0.35."""
    mfu_flags = {name: _options(p)["--mfu"].default for name, p in _subparsers().items() if "--mfu" in _options(p)}
    assert set(mfu_flags) == {"optimal", "plan", "cost", "budget", "models", "adapt-estimate"}
    assert all(float(default) == DEFAULT_MFU for default in mfu_flags.values()), mfu_flags
    assert AdaptRequest().mfu == grid.ASSUMED_MFU == DEFAULT_MFU
    assert AdaptRequest().accelerator == grid.DEFAULT_ACCELERATOR == DEFAULT_ACCELERATOR
    for fn in (catalog.model_row, catalog.model_table, search_layouts):
        params = inspect.signature(fn).parameters
        assert (params.get("accelerator") or params["gpu"]).default == DEFAULT_ACCELERATOR, fn.__name__
    assert inspect.signature(catalog.model_table).parameters["mfu"].default == DEFAULT_MFU


def test_help_names_gpu_and_hides_the_old_flag(run_cli):
    out = run_cli("ladder", "--help")
    assert out.returncode == 0 and "--gpu NAME" in out.stdout and "--accelerator" not in out.stdout
    assert f"default {DEFAULT_ACCELERATOR}" in out.stdout


def test_the_old_flag_still_works(run_cli):
    new = json.loads(run_cli("cost", "--params", "7e9", "--tokens", "1e12", "--gpu", "A100-80GB", "--json").stdout)
    old = json.loads(run_cli("cost", "--params", "7e9", "--tokens", "1e12", "--accelerator", "A100-80GB",
                             "--json").stdout)
    assert new == old and new["accelerator"] == "A100-80GB"


def test_the_bad_values_cover_every_subcommand():
    assert set(BAD) == set(_subparsers())


@pytest.mark.parametrize("argv,message", [([name, *args], msg) for name, (args, msg) in BAD.items()] + MORE_BAD,
                         ids=[name for name in BAD] + [" ".join(argv[:2]) for argv, _ in MORE_BAD])
def test_every_bad_value_is_one_line_and_exit_2(run_cli, tmp_path, monkeypatch, argv, message):
    monkeypatch.setenv("SCALEPLAN_HOME", str(tmp_path))  # `jobs` and `ladder` read a store: an empty one
    out = run_cli(*argv, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert out.stdout == ""


def test_laws_starts_without_the_heavy_features():
    code = ("import sys; from planner.cli import main; main(['laws']);"
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('pandas', 'scipy', 'torch', "
            "'transformers', 'plotly') or m.startswith(" + repr(HEAVY) + ")), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


def _lazy_imports(fn: ast.FunctionDef) -> list[list[ast.stmt]]:
    """The blocks of consecutive import statements in a function's own body (nested functions apart)."""
    blocks, current = [], []
    for stmt in fn.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            current.append(stmt)
        elif current:
            blocks, current = blocks + [current], []
    return blocks + [current] if current else blocks


def _imported(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.Import):
        return [alias.name for alias in stmt.names]
    return [f"{stmt.module}.{alias.name}" for alias in stmt.names]


def test_function_level_imports_are_one_commented_block_of_a_heavy_feature():
    lazy = []
    for path in sorted(COMMANDS_DIR.glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for fn in (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)):
            blocks = _lazy_imports(fn)
            assert len(blocks) <= 1, f"{path.name}:{fn.name} has {len(blocks)} lazy import blocks"
            for block in blocks:
                names = [name for stmt in block for name in _imported(stmt)]
                assert all(name.startswith(HEAVY) for name in names), f"{path.name}:{fn.name}: {names} are light"
                first = block[0].lineno
                assert "#" in lines[first - 1] or lines[first - 2].strip().startswith("#"), \
                    f"{path.name}:{fn.name}: say why the import is lazy"
                lazy.append(f"{path.name}:{fn.name}")
    assert len(lazy) <= 6, lazy  # a handful


def _readme_examples() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    block = text[text.index("## The CLI"):]
    block = block[block.index("```bash"):block.index("```", block.index("```bash") + 3)]
    examples = []
    for line in block.splitlines():
        for part in line.split(";"):
            words = shlex.split(part, comments=True)
            if words[:3] == ["python", "-m", "planner"]:
                examples.append(words[3:])
    return examples


def test_the_readme_shows_every_subcommand_and_every_example_parses():
    examples = _readme_examples()
    assert {argv[0] for argv in examples} == set(_subparsers())
    parser, _ = build_parser()
    for argv in examples:
        parser.parse_args(argv)  # an unknown flag or value would exit 2 here
    assert not any("--accelerator" in argv for argv in examples)  # the README spells it --gpu


def test_an_os_error_is_one_line_and_exit_2(monkeypatch, capsys):
    """A full disk or an unwritable state directory, wherever a handler meets it."""
    def full_disk():
        raise OSError(28, "No space left on device", "/state/laws/x.json")

    monkeypatch.setattr(laws, "list_laws", full_disk)
    assert main(["laws"]) == 2
    assert capsys.readouterr().err == "error: No space left on device (/state/laws/x.json)\n"
