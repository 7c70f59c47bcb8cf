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
