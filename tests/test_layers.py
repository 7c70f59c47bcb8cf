"""The layers of docs/design.md hold: no module under src/ imports from a layer above its own.

Every import counts, wherever it stands: at module level, inside a function (the lazy imports that
keep `import flowprov` light), and under `if TYPE_CHECKING:` (a type-level dependency is still a
dependency, and it is how cycles start). The layer order is read from design.md's diagram and
must equal LAYERS below, so the document and the test cannot drift apart.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

ROOT = "flowprov"
# Highest first, as design.md draws them; each layer is a list of module prefixes.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("cli.py", ("flowprov.cli",)),
    ("integrations/", ("flowprov.integrations", "snakemake_logger_plugin_flowprov")),
    (
        "lineage.py",  # with diff/, interop/, ui/ and the package root's public names
        (
            "flowprov.lineage",
            "flowprov.diff",
            "flowprov.interop",
            "flowprov.ui",
            ROOT,  # flowprov/__init__.py (this module only, not the package): re-exports public names
            "flowprov.errors",
            "flowprov.models",
            "flowprov.lamin_settings",
            "flowprov.overview",
        ),
    ),
    ("core/tracking", ("flowprov.core.tracking",)),
    ("core/registry", ("flowprov.core.registry",)),
    ("core/query", ("flowprov.core.query",)),
    ("core/store", ("flowprov.core.store",)),
    ("core/hashing", ("flowprov.core.hashing",)),
]
# Leaves: every layer may import them; they import only each other. `flowprov.core` is the
# package's __init__ (a docstring), which every import of a core module runs.
LEAVES = (
    "flowprov.core.uid",
    "flowprov.core.exceptions",
    "flowprov.core.fieldtypes",
    "flowprov.core.redaction",
    "flowprov.core.paths",
    "flowprov.core.util",
    "flowprov.core.gitinfo",
)
LEAF = len(LAYERS)  # below the lowest layer

# (importing module, imported module) pairs allowed for now, each with the issue that removes it.
# Empty: every upward import is fixed. An entry that no longer occurs fails
# test_allowlist_is_current, so the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module it imports (a submodule when `from package import submodule`)
    line: int
    path: Path


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path = SRC) -> list[Import]:
    """Every flowprov import in the file, at any depth (functions, TYPE_CHECKING blocks)."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno, path) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                target = submodule if _is_module(submodule, root) else source
                found.append(Import(module, target, node.lineno, path))
    return [i for i in found if i.target == ROOT or i.target.startswith((ROOT + ".", "snakemake_logger_plugin"))]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or (prefix != ROOT and module.startswith(prefix + "."))


def layer_of(module: str) -> int | None:
    """The layer's index, 0 the highest (LEAF for leaves); None for a module in no layer."""
    if module == "flowprov.core" or any(_within(module, leaf) for leaf in LEAVES):
        return LEAF
    best: tuple[int, int] | None = None  # (prefix length, layer): the most specific prefix wins
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if _within(module, prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return best[1] if best is not None else None


def upward(imports: list[Import]) -> list[Import]:
    """Imports of a higher layer (a smaller index), and imports of anything but leaves by leaves."""
    bad = []
    for imp in imports:
        mine, theirs = layer_of(imp.module), layer_of(imp.target)
        if theirs is None or mine is None:
            continue
        if theirs < mine:
            bad.append(imp)
    return bad


@functools.cache
def all_imports(root: Path = SRC) -> list[Import]:
    """Every flowprov import under `root` (read once per test session)."""
    return [imp for path in sorted(root.rglob("*.py")) for imp in imports_of(path, root)]


def _shown(imp: Import) -> str:
    return f"{imp.path.relative_to(REPO)}:{imp.line}: {imp.module} imports {imp.target}"


def test_no_module_imports_a_layer_above_it() -> None:
    bad = sorted({_shown(imp) for imp in upward(all_imports()) if (imp.module, imp.target) not in ALLOWED})
    assert not bad, "imports from a layer above (docs/design.md, Layers):\n" + "\n".join(bad)


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in (module_name(p) for p in SRC.rglob("*.py")) if layer_of(m) is None)
    assert not unplaced, f"modules in no layer (add them to LAYERS and to design.md): {unplaced}"


def test_allowlist_is_current() -> None:
    occurring = {(imp.module, imp.target) for imp in upward(all_imports())}
    stale = sorted(set(ALLOWED) - occurring)
    assert not stale, f"allowed imports that no longer occur (remove them from ALLOWED): {stale}"


def test_layer_order_is_the_one_design_md_draws() -> None:
    text = (REPO / "docs" / "design.md").read_text()
    section = text.split("## Layers", 1)[1]
    diagram = section.split("```", 2)[1]
    # a layer's line starts at the margin (one space); its continuation lines are indented further
    documented = [line.split()[0] for line in diagram.splitlines() if line.strip() and not line.startswith("  ")]
    assert documented == [name for name, _ in LAYERS]
    leaves = set(re.findall(r"core/(\w+)", diagram.split("core/hashing", 1)[1]))
    assert leaves == {leaf.rsplit(".", 1)[1] for leaf in LEAVES if leaf != "flowprov.core"}


def test_recorder_does_not_import_the_package_root() -> None:
    tracking = [imp for imp in all_imports() if imp.module.startswith("flowprov.core.tracking.recorder")]
    assert tracking and not [imp for imp in tracking if imp.target == "flowprov"]


# -- the adapter contract (design.md): the adapter kit and the Recorder, nothing else of core --------

ADAPTERS = ("flowprov.integrations", "snakemake_logger_plugin_flowprov")
ADAPTER_MAY_USE = (
    "flowprov.core.tracking.adapter_kit",
    "flowprov.core.tracking.recorder",
    "flowprov.core.hashing",  # hashing a file the manager names, as the Recorder would
    *LEAVES,
)
# (adapter module, core module) pairs still used, each with the work that removes it. The adapters
# are being rewritten to one shape (issue 15's adapter part) by other work this session.
ADAPTER_ALLOWED: dict[tuple[str, str], str] = {
    # (adapter module, core module): the issue that removes it — empty: every adapter keeps the contract
}


def adapter_reaches(imports: list[Import]) -> set[tuple[str, str]]:
    """(adapter, core module) pairs outside what the adapter contract allows."""
    return {
        (imp.module, imp.target)
        for imp in imports
        if imp.module.startswith(ADAPTERS)
        and _within_any(imp.target, ("flowprov.core",))
        and not _within_any(imp.target, ADAPTER_MAY_USE)
    }


def _within_any(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_adapters_use_only_the_kit_and_the_recorder() -> None:
    reached = adapter_reaches(all_imports())
    new = sorted(reached - set(ADAPTER_ALLOWED))
    assert not new, f"adapters reaching past the adapter kit and the Recorder (design.md): {new}"
    stale = sorted(set(ADAPTER_ALLOWED) - reached)
    assert not stale, f"allowed adapter imports that no longer occur (remove them from ADAPTER_ALLOWED): {stale}"


def test_adapters_import_no_private_core_names() -> None:
    private = []
    for path in sorted(SRC.rglob("*.py")):
        if not module_name(path).startswith(ADAPTERS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flowprov.core"):
                private += [f"{path.relative_to(REPO)}:{node.lineno}: {a.name}" for a in node.names if a.name[0] == "_"]
    assert not private


# -- the checker itself, on a small tree: it must see what it claims to see ---------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        "flowprov/__init__.py": "",
        "flowprov/core/__init__.py": "",
        "flowprov/core/paths.py": "import os\n",
        "flowprov/core/store/__init__.py": "",
        "flowprov/core/store/schema.py": "def version():\n    from flowprov import __version__\n    return __version__\n",
        "flowprov/core/query/__init__.py": "",
        "flowprov/core/query/queryset.py": (
            "from typing import TYPE_CHECKING\nfrom flowprov.core import paths\nfrom . import lookups\n"
            "if TYPE_CHECKING:\n    from ..registry.base import Record\n"
        ),
        "flowprov/core/query/lookups.py": "from flowprov.core.store import schema\n",
        "flowprov/core/registry/__init__.py": "",
        "flowprov/core/registry/base.py": "import flowprov.core.query.queryset\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    return tmp_path


def test_checker_finds_function_level_type_checking_and_relative_imports(tree: Path) -> None:
    found = {(i.module, i.target) for i in upward(all_imports(tree))}
    assert found == {
        ("flowprov.core.store.schema", "flowprov"),  # inside a function
        ("flowprov.core.query.queryset", "flowprov.core.registry.base"),  # TYPE_CHECKING, relative
    }
    downward = {(i.module, i.target) for i in all_imports(tree)} - found
    assert ("flowprov.core.query.queryset", "flowprov.core.paths") in downward  # `from package import module`
    assert ("flowprov.core.query.queryset", "flowprov.core.query.lookups") in downward
    assert ("flowprov.core.registry.base", "flowprov.core.query.queryset") in downward


def test_a_leaf_may_import_only_leaves(tree: Path) -> None:
    (tree / "flowprov/core/paths.py").write_text("from flowprov.core.store import schema\n")
    found = {(i.module, i.target) for i in upward(all_imports(tree))}
    assert ("flowprov.core.paths", "flowprov.core.store.schema") in found
