"""Pages hold layout only: no arithmetic in a page (formulas live in planner/, shared by CLI, pages and tests)."""
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
