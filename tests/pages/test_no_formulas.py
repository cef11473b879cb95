"""Pages hold layout only: no arithmetic in a page (formulas live in planner/, shared by CLI, pages and tests); and
downloads do not rerun the page."""
import ast

import pytest

from tests.conftest import REPO

ARITHMETIC = (ast.Mult, ast.Div, ast.FloorDiv, ast.Pow, ast.Sub, ast.Mod)
PAGES = sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]


def _is_text(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _arithmetic(node) -> bool:
    """A numeric operation; `folder / "file"` (a path) and `"%s" % x` (formatting) are not."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC)):
        return False
    path_join = isinstance(node.op, ast.Div) and _is_text(node.right)
    formatting = isinstance(node.op, ast.Mod) and _is_text(node.left)
    return not (path_join or formatting)


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_page_has_no_arithmetic(path):
    found = [f"{path.name}:{n.lineno} {ast.unparse(n)}" for n in ast.walk(ast.parse(path.read_text())) if _arithmetic(n)]
    assert not found, "compute this in planner/ (or a view helper):\n" + "\n".join(found)


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_downloads_do_not_rerun_the_page(path):
    """A download needs no rerun; with the default `on_click="rerun"` a click's rerun re-registers every deferred
    file and a second click made meanwhile got no file (seen in CI on the Fit page)."""
    calls = [n for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "download_button"]
    rerunning = [f"{path.name}:{c.lineno}" for c in calls
                 if not any(k.arg == "on_click" and isinstance(k.value, ast.Constant) and k.value.value == "ignore"
                            for k in c.keywords)]
    assert not rerunning, "pass on_click=\"ignore\" to: " + ", ".join(rerunning)
