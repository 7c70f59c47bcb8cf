"""lamindb's own tests as flowprov's yardstick (issue 19): how many of them pass with flowprov.

    .venv/bin/python scripts/lamindb_yardstick.py LAMINDB [--dest DIR] [--list] [-k EXPR]

LAMINDB is a lamindb checkout (a work tree with tests/pydata) or a lamindb git directory (a bare
mirror: the files are read from its HEAD with `git archive`). The script copies lamindb's
`tests/pydata` (and the few top-level files its tests read, README.md, CONTRIBUTING.md,
pyproject.toml) into DEST (default /tmp/lamindb-yardstick, never inside this repository), changes
`import lamindb as ln` to `import flowprov as ln`, selects the in-scope tests, runs them with this
interpreter's pytest against a fresh flowprov store, and prints the counts and every failure.

A developer tool: the test suite never runs it (the repository stands alone, without lamindb).

What is changed in the copied files (nothing else is):
- `import lamindb as ln` -> `import flowprov as ln` (the one change a user makes);
- `from lamindb import X`, `from lamindb.errors import X`, `from lamindb.models import X` (lamindb's
  public modules) -> the same name from flowprov, flowprov.errors, flowprov.models; a name flowprov
  lacks becomes a stand-in that fails the test that uses it;
- every other import of lamindb's private modules or of packages outside the scope (lamindb_setup,
  lamin_utils, laminci, django, bionty, anndata, mudata, spatialdata, zarr, h5py, scipy,
  tiledbsoma, nbproject_test, _dataset_fixtures) binds its names to stand-ins, so each file
  imports; a selected test that touches a stand-in while it runs fails;
- the current user is `testuser1` (FLOWPROV_USER), the account lamindb's tests log in with;
- conftest.py: lamindb's session start (`ln.setup.init`) is replaced by `flowprov init --storage
  ./default_storage_unit_core` in DEST (the same default storage directory), its session end by
  nothing; its fixtures stay as they are. A per-test timeout (SIGALRM) is added.

The selection rule (decided from the issue's scope, applied mechanically to every test function of
every file in tests/pydata): a test is in scope unless what it reaches -- its body and decorators,
the fixtures it requests (and theirs, from the file or conftest.py, autouse ones included), the
module-level helpers and constants it names, transitively -- contains one of:
1. a name bound to a stand-in (an out-of-scope package or a lamindb-private module, above);
2. `ln.<name>` for an out-of-scope subsystem (OUT_OF_SCOPE_LN: features, schemas, records,
   sheets, ULabel and the other labels, branches, blocks, ln.setup, curators, integrations,
   lamindb's example data sets, `ln.core` / `ln.base` internals);
3. an attribute of an out-of-scope subsystem on any record (OUT_OF_SCOPE_ATTRS: `.features`,
   `.ulabels`, `.schemas`, `.records`, `.projects`, `.blocks`, ...);
4. a non-dunder `_private` attribute (lamindb's internals), or `unittest.mock` / `monkeypatch`
   (they patch lamindb's internals);
5. a string (not a docstring) with a `scheme://` location other than `file://` (cloud storage,
   remote git, http), or naming a lamindb module (`"lamindb.models..."`, a patch target);
6. the `ccaplog` fixture (it asserts lamindb's log wording through lamin_utils' logger).
Each parametrized case of a selected test counts as one test (pytest's count).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

PUBLIC_MODULES = {"lamindb": "flowprov", "lamindb.errors": "flowprov.errors", "lamindb.models": "flowprov.models"}
OUT_OF_SCOPE_PACKAGES = (
    "lamindb",  # any other lamindb module is lamindb-private
    "lamindb_setup",
    "lamin_utils",
    "laminci",
    "django",
    "bionty",
    "anndata",
    "mudata",
    "spatialdata",
    "zarr",
    "h5py",
    "scipy",
    "tiledbsoma",
    "nbproject_test",
    "_dataset_fixtures",
)
OUT_OF_SCOPE_LN = {
    "Feature",
    "FeatureValue",
    "Schema",
    "Record",
    "Sheet",
    "ULabel",
    "Project",
    "Reference",
    "Person",
    "Branch",
    "Block",
    "setup",
    "curators",
    "integrations",
    "examples",
    "core",
    "base",
}
OUT_OF_SCOPE_ATTRS = {
    "features",
    "ulabels",
    "schemas",
    "schema",
    "records",
    "projects",
    "references",
    "blocks",
    "ablocks",
    "labels",
    "feature_sets",
    "validate",  # validate / inspect / standardize / from_values: lamindb's curation (CanCurate)
    "inspect",
    "standardize",
    "from_values",
}
ALLOWED_PRIVATE = {("context", "_run")}  # lamindb's tests reset the global run between tests
REMOTE_CALLS = {"connect", "DB", "using"}  # with "owner/instance": a LaminHub instance
SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]*)://")
TIMEOUT_S = 120
TOP_LEVEL_FILES = ("README.md", "CONTRIBUTING.md", "pyproject.toml")


# ---------------------------------------------------------------- copying and rewriting


def copy_sources(lamindb: Path, dest: Path) -> str:
    """Copy tests/pydata and the top-level files its tests read; return lamindb's commit."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    git_dir = lamindb if (lamindb / "HEAD").is_file() and not (lamindb / "tests").exists() else None
    git = ["git", f"--git-dir={git_dir}"] if git_dir else ["git", "-C", str(lamindb)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    if git_dir:
        archive = subprocess.run(
            [*git, "archive", "HEAD", "tests/pydata", *TOP_LEVEL_FILES], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    else:
        shutil.copytree(lamindb / "tests" / "pydata", dest / "tests" / "pydata")
        for name in TOP_LEVEL_FILES:
            if (lamindb / name).exists():
                shutil.copy(lamindb / name, dest / name)
    return commit


def _stand_in_lines(node: ast.Import | ast.ImportFrom, indent: str) -> tuple[list[str], set[str]]:
    """The replacement of one import statement and the names it binds to stand-ins."""
    if isinstance(node, ast.Import):
        out: list[str] = []
        bound: set[str] = set()
        for alias in node.names:
            if alias.name == "lamindb" and alias.asname == "ln":
                # `import flowprov as ln`, through a stand-in for names flowprov lacks at import
                out.append(f"{indent}ln = _yardstick.flowprov")
                continue
            name = alias.asname or alias.name.split(".")[0]
            out.append(f"{indent}{name} = _yardstick.stand_in({alias.name!r})")
            bound.add(name)
        return out, bound
    module = node.module or ""
    out, bound = [], set()
    for alias in node.names:
        name = alias.asname or alias.name
        if module in PUBLIC_MODULES:
            out.append(f"{indent}{name} = _yardstick.public({PUBLIC_MODULES[module]!r}, {alias.name!r})")
        else:
            out.append(f"{indent}{name} = _yardstick.stand_in({module + '.' + alias.name!r})")
            bound.add(name)
    return out, bound


def _is_out_of_scope_import(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in OUT_OF_SCOPE_PACKAGES for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in OUT_OF_SCOPE_PACKAGES
    return False


def rewrite_source(text: str) -> tuple[str, set[str]]:
    """Rewrite the imports of one test module; return the new text and the stand-in names."""
    tree = ast.parse(text)
    lines = text.splitlines()
    stand_ins: set[str] = set()
    edits = []
    for node in ast.walk(tree):
        if _is_out_of_scope_import(node):
            assert isinstance(node, ast.Import | ast.ImportFrom)
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
            new, bound = _stand_in_lines(node, indent)
            stand_ins |= bound
            edits.append((node.lineno, node.end_lineno or node.lineno, new))
    for start, end, new in sorted(edits, reverse=True):
        lines[start - 1 : end] = new
    head = "import lamindb_yardstick_support as _yardstick  # added by scripts/lamindb_yardstick.py\n"
    return head + "\n".join(lines) + "\n", stand_ins


SUPPORT = '''"""Stand-ins for names outside flowprov's scope (written by scripts/lamindb_yardstick.py)."""
import importlib
import types

ACTIVE = False  # True while a selected test runs


class StandIn:
    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def _refuse(self):
        raise RuntimeError(f"out of scope: {object.__getattribute__(self, '_name')} is not available with flowprov")

    def __getattr__(self, attr):
        if ACTIVE:
            self._refuse()
        return StandIn(f"{object.__getattribute__(self, '_name')}.{attr}")

    def __call__(self, *args, **kwargs):
        if ACTIVE:
            self._refuse()
        return StandIn(f"{object.__getattribute__(self, '_name')}()")

    def __iter__(self):
        if ACTIVE:
            self._refuse()
        return iter(())

    def __mro_entries__(self, bases):
        return (object,)


class Missing(StandIn):
    """A public lamindb name flowprov does not have: fails every use."""

    def __getattr__(self, attr):
        self._refuse()

    def __call__(self, *args, **kwargs):
        self._refuse()


class FlowprovAtImport(types.ModuleType):
    """flowprov itself; only while a module is imported (module-level `ln.Record` in a parametrize
    list of an excluded test) does a name flowprov lacks give a stand-in instead of an error."""

    def __getattr__(self, name):
        if ACTIVE or name.startswith("__"):
            return getattr(_flowprov, name)
        try:
            return getattr(_flowprov, name)
        except AttributeError:
            return StandIn(f"ln.{name}")

    def __setattr__(self, name, value):
        setattr(_flowprov, name, value)

    def __dir__(self):
        return dir(_flowprov)


_flowprov = importlib.import_module("flowprov")
flowprov = FlowprovAtImport("flowprov")


def stand_in(name):
    return StandIn(name)


def public(module, name):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return Missing(f"{module}.{name}")
'''

CONFTEST_HEAD = """
# ---- flowprov's session set-up (scripts/lamindb_yardstick.py replaced lamindb's) ----
import signal as _signal
import subprocess as _subprocess
import sys as _sys


def _flowprov_session_start():
    init = [_sys.executable, "-m", "flowprov.cli", "init"]
    if _subprocess.run([*init, "--storage", "./default_storage_unit_core"]).returncode != 0:
        _subprocess.run(init, check=True)  # a flowprov without `init --storage`


def _timeout(signum, frame):
    raise TimeoutError("lamindb yardstick: the test ran longer than {timeout} s")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _yardstick.ACTIVE = True
    _signal.signal(_signal.SIGALRM, _timeout)
    _signal.alarm({timeout})
    try:
        return (yield)
    finally:
        _signal.alarm(0)
        _yardstick.ACTIVE = False


def pytest_collection_modifyitems(config, items):
    selected = {selected!r}
    keep = [item for item in items if (item.path.name, item.originalname) in selected]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
"""


def rewrite_conftest(text: str, selected: set[tuple[str, str]]) -> str:
    """lamindb's conftest with its session hooks replaced by flowprov's set-up."""
    tree = ast.parse(text)
    lines = text.splitlines()
    for node in sorted(tree.body, key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.FunctionDef) and node.name in ("pytest_sessionstart", "pytest_sessionfinish"):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            body = ["    _flowprov_session_start()"] if node.name == "pytest_sessionstart" else ["    pass"]
            lines[start - 1 : node.end_lineno] = [f"def {node.name}(*args):", *body]
    return "\n".join(lines) + CONFTEST_HEAD.format(timeout=TIMEOUT_S, selected=sorted(selected))


# ---------------------------------------------------------------- selecting


@dataclass
class Module:
    path: Path
    tree: ast.Module
    stand_ins: set[str]
    defs: dict[str, ast.AST] = field(default_factory=dict)  # functions, fixtures, constants
    autouse: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path, stand_ins: set[str]) -> Module:
        module = cls(path, ast.parse(path.read_text()), stand_ins)
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                module.defs[node.name] = node
                if any("autouse" in ast.unparse(d) for d in getattr(node, "decorator_list", [])):
                    module.autouse.append(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            module.defs[name.id] = node
        return module


def _docstrings(node: ast.AST) -> set[int]:
    ids = set()
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


def _ln_chain(node: ast.Attribute) -> list[str] | None:
    parts = []
    cur: ast.AST = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    return list(reversed(parts)) if isinstance(cur, ast.Name) and cur.id == "ln" else None


def _remote_instance(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    first = call.args[0] if call.args else None
    return (
        name in REMOTE_CALLS
        and isinstance(first, ast.Constant)
        and isinstance(first.value, str)
        and re.fullmatch(r"[\w-]+/[\w.-]+", first.value) is not None
    )


def violations(node: ast.AST, stand_ins: set[str]) -> list[str]:
    """Why one reached definition is out of scope (empty: it is in scope)."""
    found = []
    docs = _docstrings(node)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in stand_ins:
            found.append(f"uses {sub.id} (out of scope or lamindb-private)")
        elif isinstance(sub, ast.Name) and sub.id in ("patch", "MagicMock", "mock", "monkeypatch"):
            found.append(f"patches lamindb internals ({sub.id})")
        elif isinstance(sub, ast.arg) and sub.arg in ("monkeypatch", "ccaplog"):
            found.append(f"fixture {sub.arg}")
        elif isinstance(sub, ast.Attribute):
            chain = _ln_chain(sub)
            private = sub.attr.startswith("_") and not sub.attr.startswith("__")
            if chain and any(part in OUT_OF_SCOPE_LN for part in chain):
                found.append("ln." + ".".join(chain))
            elif sub.attr in OUT_OF_SCOPE_ATTRS:
                found.append(f".{sub.attr}")
            elif private and not (chain and tuple(chain[-2:]) in ALLOWED_PRIVATE):
                found.append(f"private .{sub.attr}")
        elif isinstance(sub, ast.Call) and _remote_instance(sub):
            found.append("a LaminHub instance")
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and id(sub) not in docs:
            scheme = SCHEME.search(sub.value)
            if scheme and scheme.group(1) != "file":
                found.append(f"location {sub.value[:40]!r}")
            elif re.match(r"lamindb(_setup)?\.", sub.value):
                found.append(f"names lamindb module {sub.value!r}")
    return found


def _code_of(path: Path) -> str:
    if path.suffix == ".py":
        return path.read_text()
    cells = json.loads(path.read_text()).get("cells", [])
    code = ["".join(c["source"]) for c in cells if c.get("cell_type") == "code"]
    lines = [ln for cell in code for ln in cell.splitlines() if not ln.lstrip().startswith(("!", "%"))]
    return "\n".join(lines)


def file_violations(node: ast.AST, pydata: Path) -> list[str]:
    """Violations in the scripts and notebooks of tests/pydata that a test names (it runs them)."""
    found = []
    for sub in ast.walk(node):
        if not (isinstance(sub, ast.Constant) and isinstance(sub.value, str)):
            continue
        for ref in re.findall(r"[\w./-]+\.(?:py|ipynb)\b", sub.value):
            for path in pydata.rglob(Path(ref).name):
                if path.parent.name in ("scripts", "notebooks") or path.parent.parent.name in ("scripts", "notebooks"):
                    try:
                        tree = ast.parse(_code_of(path))
                    except SyntaxError:
                        continue
                    _, bound = rewrite_source(_code_of(path))
                    found += [f"{path.name}: {why}" for why in violations(tree, bound)]
    return found


def reach_violations(test: ast.AST, module: Module, conftest: Module) -> list[str]:
    """Violations in everything a test reaches (see the module docstring)."""
    todo: list[tuple[ast.AST, Module]] = [(test, module)]
    todo += [(module.defs[n], module) for n in module.autouse] + [
        (conftest.defs[n], conftest) for n in conftest.autouse
    ]
    seen: set[int] = set()
    found: list[str] = []
    while todo:
        node, owner = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found += violations(node, owner.stand_ins) + file_violations(node, module.path.parent)
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        names |= {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments) for a in n.args}
        names |= {
            c.value
            for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(c := n, ast.Constant)
            if isinstance(c.value, str)
        }
        for name in names:
            for home in (owner, module, conftest):
                if name in home.defs and home.defs[name] is not node:
                    todo.append((home.defs[name], home))
                    break
    return sorted(set(found))


def select(dest: Path, stand_ins: dict[str, set[str]]) -> tuple[set[tuple[str, str]], dict[tuple[str, str], list[str]]]:
    pydata = dest / "tests" / "pydata"
    conftest = Module.read(pydata / "conftest.py", stand_ins["conftest.py"])
    selected, excluded = set(), {}
    for path in sorted(pydata.glob("test_*.py")):
        module = Module.read(path, stand_ins[path.name])
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                why = reach_violations(node, module, conftest)
                if why:
                    excluded[(path.name, node.name)] = why
                else:
                    selected.add((path.name, node.name))
    return selected, excluded


# ---------------------------------------------------------------- running


def prepare(lamindb: Path, dest: Path) -> tuple[str, set[tuple[str, str]], dict[tuple[str, str], list[str]]]:
    commit = copy_sources(lamindb, dest)
    pydata = dest / "tests" / "pydata"
    stand_ins = {}
    for path in sorted([*pydata.glob("test_*.py"), pydata / "conftest.py"]):
        text, bound = rewrite_source(path.read_text())
        path.write_text(text)
        stand_ins[path.name] = bound
    # the scripts and notebooks the tests run: the import line only, so anything else fails loudly
    for path in [*pydata.glob("scripts/**/*.py"), *pydata.rglob("*.ipynb")]:
        path.write_text(path.read_text().replace("import lamindb as ln", "import flowprov as ln"))
    (pydata / "lamindb_yardstick_support.py").write_text(SUPPORT)
    selected, excluded = select(dest, stand_ins)
    conftest = pydata / "conftest.py"
    conftest.write_text(rewrite_conftest(conftest.read_text(), selected))
    return commit, selected, excluded


def run(dest: Path, selected: set[tuple[str, str]], extra: list[str]) -> list[tuple[str, str, str]]:
    report = dest / "junit.xml"
    # the tests call `python` and `jupyter` from PATH: this interpreter's environment comes first
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PYTHONPATH": str(dest / "tests" / "pydata"), "PATH": path}
    env.pop("FLOWPROV_DB", None)
    env["FLOWPROV_USER"] = "testuser1"  # lamindb's tests run logged in as testuser1
    cmd = [sys.executable, "-m", "pytest", "tests/pydata", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["--rootdir", str(dest), f"--junitxml={report}", "-o", "junit_family=xunit1", *extra]
    subprocess.run(cmd, cwd=dest, env=env, stdout=subprocess.DEVNULL if "-v" not in extra else None)
    results = []
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, why = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = (child.get("message") or child.text or "").strip()
                why = message.splitlines()[0][:160] if message else ""
        file = Path(case.get("file") or case.get("classname", "").replace(".", "/") + ".py").name
        if why == "collection failure":  # the file did not import: each selected test of it fails
            results += [(f"{f}::{n}", "error", f"import: {why}") for f, n in sorted(selected) if f == file]
        else:
            results.append((f"{file}::{case.get('name')}", outcome, why))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lamindb", type=Path, help="a lamindb checkout or git directory")
    parser.add_argument("--dest", type=Path, default=Path("/tmp/lamindb-yardstick"))
    parser.add_argument("--list", action="store_true", help="list the selection and exit")
    parser.add_argument("--excluded", action="store_true", help="also print why each excluded test is out")
    args, extra = parser.parse_known_args()
    dest = args.dest.resolve()
    repo = Path(__file__).resolve().parents[1]
    if dest == repo or repo in dest.parents:
        parser.error(f"--dest must be outside the repository ({repo})")
    commit, selected, excluded = prepare(args.lamindb.resolve(), dest)
    print(f"lamindb commit {commit}; {len(selected)} test functions in scope, {len(excluded)} out")
    if args.excluded or args.list:
        for (file, name), why in sorted(excluded.items()):
            print(f"  out {file}::{name}: {'; '.join(why[:3])}")
    if args.list:
        for file, name in sorted(selected):
            print(f"  in  {file}::{name}")
        return 0
    results = run(dest, selected, extra)
    passed = [r for r in results if r[1] == "passed"]
    for name, outcome, why in sorted(results):
        if outcome != "passed":
            print(f"  {outcome:7} {name}: {why}")
    share = 100 * len(passed) / len(results) if results else 0.0
    print(f"lamindb {commit[:12]}: {len(passed)} of {len(results)} in-scope tests pass ({share:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
