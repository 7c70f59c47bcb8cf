"""`export()`: the Python API behind `flowprov export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowprov.interop.selection import Selection, select

FORMATS = ("openlineage", "ro-crate", "prov-json", "prov-n", "prov-jsonld")


def _namespace(namespace: str | None) -> str:
    if namespace:
        return namespace
    from flowprov.core.store.connection import current_store

    return current_store().name or "flowprov"


def export_text(selection: Selection, fmt: str, namespace: str | None = None) -> str:
    """The document for a text format (OpenLineage JSON Lines or a PROV serialization)."""
    if fmt == "openlineage":
        from flowprov.interop import openlineage

        return openlineage.to_json_lines(openlineage.to_events(selection, _namespace(namespace)))
    if fmt.startswith("prov-"):
        from flowprov.interop import prov

        return prov.serialize(selection, fmt)
    raise ValueError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")


def export(
    target: Any,
    fmt: str,
    out: str | Path | None = None,
    *,
    depth: int | None = None,
    include_files: bool = False,
    emit: bool = False,
    namespace: str | None = None,
    license: str | None = None,
) -> str | Path:
    """Export `target` (a run with its child runs, or an artifact with its upstream lineage).

    Text formats are returned as a string, and also written to `out` when given; a crate is
    written to `out` (a directory, or a `.zip` file) and its path returned. `emit=True` sends
    OpenLineage events through the client's own configuration as well.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if depth is not None and depth < 0:
        raise ValueError("--depth must be >= 0")
    selection = select(target, depth)
    if fmt == "ro-crate":
        if out is None:
            raise ValueError("a crate is a directory or a .zip file: give -o PATH")
        from flowprov.interop import rocrate

        return rocrate.write_crate(rocrate.build_crate(selection, include_files, license), Path(out))
    text = export_text(selection, fmt, namespace)
    if emit:
        if fmt != "openlineage":
            raise ValueError("--emit sends OpenLineage events: use it with --format openlineage")
        from flowprov.interop import openlineage

        openlineage.emit(openlineage.to_events(selection, _namespace(namespace)))
    if out is not None:
        _write_atomically(Path(out), text)
    return text


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def detect_format(path: Path) -> str:
    """`ro-crate` for a crate directory or zip, `prov-json` for a PROV-JSON file, else `openlineage`."""
    if path.is_dir() or path.suffix == ".zip":
        return "ro-crate"
    head = path.read_text(errors="replace")[:4096]
    if head.lstrip().startswith("document") or '"@context"' in head:
        return "prov-json"  # PROV-N / PROV-JSONLD, read through prov
    if '"eventType"' in head or '"runId"' in head or '"eventTime"' in head:
        return "openlineage"
    if any(f'"{k}"' in head for k in ("activity", "entity", "wasGeneratedBy", "prefix", "used")):
        return "prov-json"
    return "openlineage"


def import_(*paths: str | Path, fmt: str | None = None) -> list[Any]:
    """Read OpenLineage JSON Lines, Workflow Run Crates or PROV-JSON into the current store.

    All files are read and checked first; then everything is written in one transaction, or
    nothing (an invalid file raises InteropError naming the file and element). Importing the
    same document again changes nothing. Returns the stored runs.
    """
    from flowprov.interop.importing import InteropError, write_runs

    runs = []
    by_format: dict[str, list[Path]] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InteropError(f"{path}: no such file or directory")
        by_format.setdefault(fmt or detect_format(path), []).append(path)
    for kind, files in by_format.items():
        runs += _reader(kind)(files)
    return write_runs(runs)


def _reader(kind: str) -> Any:
    if kind == "openlineage":
        from flowprov.interop.openlineage_import import read_runs

        return read_runs
    if kind == "ro-crate":
        from flowprov.interop.rocrate_import import read_runs as read_crates

        return read_crates
    if kind in ("prov-json", "prov-n", "prov-jsonld"):
        from flowprov.interop.prov_import import read_runs as read_prov

        return read_prov
    raise ValueError(f"cannot import {kind!r}: use openlineage, ro-crate or prov-json")
