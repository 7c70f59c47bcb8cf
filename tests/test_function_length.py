"""No function in src/ is longer than 60 lines (docs/design.md, Principles), migrations aside.

Length is `end_lineno - lineno + 1` of the `def` (decorators not counted), for every function and
method, nested ones included. A long function is split into named steps; the allowlist holds
today's offenders in modules other work is rewriting, each with the issue that shortens it, and
an entry that is short enough now (or gone) fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
LIMIT = 60
# Revision files are generated-shaped scripts of schema operations, read top to bottom.
EXEMPT = ("src/flowprov/core/store/migrations/",)

# "path::qualified name" -> why it is still long.
ALLOWED: dict[str, str] = {
    # "path.py::function": the issue that splits it — empty: no function is over the limit
}


def function_lengths(path: Path) -> dict[str, int]:
    """Qualified name -> length in lines, for every function in the file."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                lengths[name] = (child.end_lineno or child.lineno) - child.lineno + 1
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), str(path)), "")
    return lengths


@functools.cache
def all_lengths(root: Path = SRC) -> dict[str, int]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.as_posix()
        if not where.startswith(EXEMPT):
            out.update({f"{where}::{name}": n for name, n in function_lengths(path).items()})
    return out


def test_no_function_is_longer_than_the_limit() -> None:
    long = {name: n for name, n in all_lengths().items() if n > LIMIT and name not in ALLOWED}
    assert not long, f"functions over {LIMIT} lines (split them into named steps): " + ", ".join(
        f"{name} ({n})" for name, n in sorted(long.items())
    )


def test_allowlist_is_current() -> None:
    lengths = all_lengths()
    stale = sorted(name for name in ALLOWED if lengths.get(name, 0) <= LIMIT)
    assert not stale, f"allowed long functions that are short now or gone (remove them from ALLOWED): {stale}"


@pytest.mark.parametrize("body_lines, too_long", [(LIMIT - 1, False), (LIMIT, True)])
def test_counting_includes_methods_and_nested_functions(tmp_path: Path, body_lines: int, too_long: bool) -> None:
    body = "".join("        x = 1\n" for _ in range(body_lines))
    nested = body.replace("        ", "            ")
    source = f"class A:\n    def method(self):\n{body}\n    def outer(self):\n        def inner():\n{nested}"
    (tmp_path / "m.py").write_text(source)
    lengths = function_lengths(tmp_path / "m.py")
    assert lengths["A.method"] == body_lines + 1
    assert (lengths["A.outer.inner"] > LIMIT) is too_long
