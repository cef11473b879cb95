"""Where scaleplan keeps its state (job store, saved laws, checkpoints, tokenizer cache)."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_TABLES = REPO_ROOT / "data"


def data_dir() -> Path:
    """The state directory: $SCALEPLAN_HOME, else `.scaleplan/` beside the code. Created on first use."""
    path = Path(os.environ.get("SCALEPLAN_HOME", REPO_ROOT / ".scaleplan"))
    path.mkdir(parents=True, exist_ok=True)
    return path
