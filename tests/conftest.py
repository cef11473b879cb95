"""Shared fixtures: every test gets its own state directory, so saved laws and jobs never leak."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def scaleplan_home(tmp_path, monkeypatch):
    home = tmp_path / "scaleplan-home"
    monkeypatch.setenv("SCALEPLAN_HOME", str(home))
    return home


@pytest.fixture
def run_cli():
    """Run `python -m planner ARGS` as a subprocess, the way a user or another tool would."""

    def run(*args, timeout=300):
        return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, env=os.environ.copy())

    return run


@pytest.fixture
def shared_dataset():
    """Path to a file in ../shared/datasets (real published data); skips only if the folder is absent."""

    def get(name: str) -> Path:
        path = SHARED_DATASETS / name
        if not path.exists():
            pytest.skip(f"{path} not present on this machine")
        return path

    return get
