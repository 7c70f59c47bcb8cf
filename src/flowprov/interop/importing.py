"""Writing what a reader parsed from a document: runs, transforms and files, in one transaction.

Each format's reader turns a file into `ImportedRun`s (parents before children) and raises
`InteropError` naming the file and element on bad input before anything is written. The runs
keep the document's own id in `reference` (reference_type `openlineage_run_id`,
`ro_crate_action` or `prov_activity`), so importing the same document again updates the same
records: nothing is duplicated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flowprov.core.exceptions import FlowprovError


class InteropError(FlowprovError, ValueError):
    """A document that cannot be read: the message names the file and the element."""


@dataclass
class ImportedFile:
    path: str  # an absolute URI
    hash: str
    hash_type: str
    size: int
    n_files: int | None = None
    key: str | None = None


@dataclass
class ImportedRun:
    reference: str
    reference_type: str
    transform_key: str
    transform_type: str = "pipeline"
    transform_name: str | None = None
    transform_version: str | None = None
    transform_reference: str | None = None
    transform_reference_type: str | None = None
    source_code: str | None = None
    name: str | None = None
    status: str = "started"
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    aux: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None  # reference of the parent run (imported here or stored before)
    inputs: list[ImportedFile] = field(default_factory=list)
    outputs: list[ImportedFile] = field(default_factory=list)


def name_hash(identity: str) -> str:
    """A stand-in content hash for a file the document names without one (hash type `name`)."""
    from flowprov.core.hashing import hash_text

    return hash_text(identity)


def write_runs(runs: list[ImportedRun], store: Any = None) -> list[Any]:
    """Record the runs (one transaction) and return the stored Run records, in document order."""
    import flowprov as ln
    from flowprov.core.tracking.recorder import FileSpec, Recorder, TransformSpec

    recorder = Recorder(store)
    handles: dict[str, Any] = {}
    for item in runs:
        spec = TransformSpec(
            key=item.transform_key,
            name=item.transform_name,
            type=item.transform_type,
            version=item.transform_version,
            source_code=item.source_code,
            reference=item.transform_reference,
            reference_type=item.transform_reference_type,
        )
        parent: Any = handles.get(item.parent or "")
        if parent is None and item.parent:
            parent = ln.Run.filter(reference=item.parent).order_by("id").first()
        handle = recorder.open_run(
            spec,
            reference=item.reference,
            reference_type=item.reference_type,
            name=item.name,
            params=item.params or None,
            parent=parent,
            started_at=item.started_at,
            status=item.status,
            aux=item.aux or None,
        )
        for role, files in (("in", item.inputs), ("out", item.outputs)):
            target = handle.inputs if role == "in" else handle.outputs
            for f in files:
                content = {"hash": f.hash, "hash_type": f.hash_type, "size": f.size, "n_files": f.n_files}
                target.append(FileSpec(path=f.path, content=content, key=f.key))
        if item.status != "started":
            recorder.close_run(handle, item.status, item.finished_at or item.started_at)
            handle.finished_at = item.finished_at  # an end the document does not give stays unknown
        handles[item.reference] = handle
    recorder.flush()
    return [handle.run for handle in handles.values()]  # one per run, however often documents repeat it


def parse_time(value: Any, where: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InteropError(f"{where}: not an ISO 8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
