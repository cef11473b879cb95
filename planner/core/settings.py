"""Where scaleplan keeps its state (job store, saved laws, checkpoints, tokenizer cache)."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_TABLES = REPO_ROOT / "data"


def data_dir() -> Path:
    """The state directory: $SCALEPLAN_HOME, else `.scaleplan/` beside the code.

    Never created here: a read (listing jobs, saved laws) must work on a read-only or full disk, so only
    code that writes creates what it writes into (`mkdir(parents=True, exist_ok=True)` or `ensure_data_dir`)."""
    return Path(os.environ.get("SCALEPLAN_HOME", REPO_ROOT / ".scaleplan"))


def ensure_data_dir() -> Path:
    """The state directory, created if missing: for code about to write into it."""
    path = data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path
