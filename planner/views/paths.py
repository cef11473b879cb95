"""Show file names, never the server's absolute paths (issue 8).

A page is seen by whoever reaches the server: the layout of its disk (user names, the state directory,
where uploads and checkpoints live) is none of their business, and a file name is all a user needs to
tell two runs apart. Job specs, results and errors carry absolute paths (workers need them), so the
pages pass what they show through `file_names_only`.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

# An absolute POSIX, home-relative or Windows path: starts after a space, quote, bracket or '=' (so
# "tokens/s", "3/4" and the "//" of a URL are left alone) and runs until a space, quote or separator.
_ABSOLUTE = re.compile(r"(?<![\w.:/\\~-])(?:~|[A-Za-z]:)?(?:[/\\][^\s/\\'\"<>|,;:()\[\]{}]+)+[/\\]?")


def _name(match: re.Match) -> str:
    parts = [p for p in re.split(r"[/\\]", match.group(0)) if p and p != "~"]
    return parts[-1] if parts else match.group(0)


def file_names_only(value: Any) -> Any:
    """`value` (a string, or dicts/lists/a table of them) with every absolute path cut to its file name."""
    if isinstance(value, str):
        return _ABSOLUTE.sub(_name, value)
    if isinstance(value, dict):
        return {key: file_names_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [file_names_only(item) for item in value]
    if isinstance(value, pd.DataFrame):
        return value.map(lambda cell: file_names_only(cell) if isinstance(cell, str) else cell)
    return value
