"""Lineage of records: `upstream(record)`, `downstream(record)`, `locate(path)`, `of_path(path)`.

The walk itself runs on ids in the query layer (flowprov.core.query.lineage, by the rules of
lineage_links); this module checks what it is given, loads the records the walk reached and
names the edges by uid (a `Lineage`, lineage_graph).

    start = locate("results/B.txt")          # Start(artifact, run, matched_by, notes)
    graph = of_path("results/B.txt")          # the lineage walk from there (upstream by default)

Where a file's lineage starts, by location first: the output link with this path that was written
last names the run and the artifact (the bytes it wrote there). Without one, the file's content
hash is looked up (the artifact's first creator), and `notes` says so; a path that only ever was
read is found by its input links or the artifact's last known location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flowprov.core.exceptions import DoesNotExist
from flowprov.core.query.lineage import ArtifactRoot, LinkGraph, check_walk, walk_artifact, walk_run
from flowprov.core.query.lineage_links import artifact_read_at, last_write_at
from flowprov.core.registry.artifact import Artifact, path_to_uri
from flowprov.core.registry.collection import Collection
from flowprov.core.registry.lineage_graph import Lineage
from flowprov.core.registry.run import Run
from flowprov.core.util import chunked


def walk(
    root: Any,
    direction: str = "upstream",
    depth: int | None = None,
    store: Any = None,
    path: str | None = None,
    start_run: Any = None,
) -> Lineage:
    """The lineage of an Artifact or a Run, `direction` "upstream" or "downstream".

    For an artifact, `path` is the location to start from (default: its last known location);
    `start_run` (upstream) is the run known to have written it there.
    """
    _check_root(root, direction, depth)
    store = store or root._target_store(None)
    session = store.session
    where = (path or root.uri or "") if isinstance(root, Artifact) else None
    try:
        if isinstance(root, Run):
            graph = walk_run(session, root.id, direction, depth)
        else:
            artifact = ArtifactRoot(root.id, root.run_id, root.uri)
            first = start_run.id if start_run is not None else None
            graph = walk_artifact(session, artifact, where or "", direction, depth, first)
        return _lineage(session, graph, root, direction, where, start_run)
    finally:
        store.release()


def _check_root(root: Any, direction: str, depth: int | None) -> None:
    check_walk(direction, depth)
    if not isinstance(root, (Artifact, Run)):
        raise TypeError(f"lineage takes an Artifact or a Run, not {type(root).__name__}")
    if root.id is None:
        raise ValueError(f"{type(root).__name__} is not saved; lineage needs a stored record")


def _lineage(session: Any, graph: LinkGraph, root: Any, direction: str, path: str | None, start_run: Any) -> Lineage:
    """Load the records a walk reached and name its edges by uid."""
    runs, artifacts = _load(session, Run, graph.runs), _load(session, Artifact, graph.artifacts)
    collections = _load(session, Collection, graph.collections)
    uid = {("r", r.id): r.uid for r in runs} | {("a", a.id): a.uid for a in artifacts}
    uid |= {("c", c.id): c.uid for c in collections}
    located = sorted({(uid[s], uid[d], p) for s, d, p in graph.edges if s in uid and d in uid})
    notes = [
        f"artifact {uid[('a', a)]} read by run {uid[('r', r)]} at {p or 'an unknown location'}: no run is recorded "
        f"writing these bytes there, so it is linked to the run that created them first, by content hash"
        for a, r, p, _ in graph.by_content
        if ("a", a) in uid and ("r", r) in uid
    ]
    first = start_run
    if first is None and direction == "upstream" and isinstance(root, Artifact):
        writers = {s for s, d, _ in located if d == root.uid}
        first = next((r for r in runs if r.uid in writers), None)
    return Lineage(
        root=root,
        direction=direction,
        runs=sorted(runs, key=lambda r: r.id),
        artifacts=sorted(artifacts, key=lambda a: a.id),
        edges=sorted({(s, d) for s, d, _ in located}),
        collections=sorted(collections, key=lambda c: c.id),
        located_edges=located,
        notes=sorted(set(notes)),
        start_run=first,
        path=path,
    )


def _load(session: Any, model: Any, ids: set[int]) -> list:
    out: list = []
    for chunk in chunked(sorted(ids)):
        out += session.scalars(select(model).where(model.id.in_(chunk))).all()
    return out


def upstream(record: Any, depth: int | None = None, path: str | None = None) -> Lineage:
    """Everything that led to `record` (an Artifact or a Run); for an artifact, from the run that
    wrote it at `path` (a location or file URI; default: its last known location)."""
    return walk(record, "upstream", depth, path=_as_uri(path))


def downstream(record: Any, depth: int | None = None, path: str | None = None) -> Lineage:
    """Everything that came from `record` (an Artifact or a Run); for an artifact, from the runs
    that read it at `path` (default: its last known location)."""
    return walk(record, "downstream", depth, path=_as_uri(path))


def _as_uri(path: Any) -> str | None:
    if path is None or str(path).startswith("file://"):
        return None if path is None else str(path)
    return path_to_uri(path)


# -- where the lineage of a file starts -------------------------------------------------------


@dataclass
class Start:
    artifact: Any
    run: Any  # the run that wrote the file there (None: nobody is recorded writing it)
    matched_by: str  # "location" or "content"
    path: str  # the absolute URI looked up
    notes: list[str] = field(default_factory=list)


def _current_hash(path: Path) -> str | None:
    from flowprov.core.hashing import HashingError, hash_path

    try:
        return hash_path(path).hash if path.exists() else None
    except HashingError:
        return None


def locate(target: str | Path, store: Any = None) -> Start:
    """Find the artifact and run lineage of `target` (a path) starts from; DoesNotExist if none."""
    from flowprov.core.store.connection import current_store

    store = store or current_store()
    path, uri = Path(target), path_to_uri(target)
    now_hash = _current_hash(path)
    session = store.session
    try:
        return (
            _by_location(session, target, uri, now_hash)
            or _by_content(session, target, uri, now_hash)
            or _as_read(session, target, uri)
        )
    finally:
        store.release()


def _by_location(session: Any, target: Any, uri: str, now_hash: str | None) -> Start | None:
    """The run that wrote `uri` last, and the bytes it wrote there."""
    write = last_write_at(session, uri)
    if write is None:
        return None
    artifact, run = session.get(Artifact, write.artifact), session.get(Run, write.run)
    notes = []
    if now_hash is not None and now_hash != artifact.hash:
        notes.append(f"{target} has changed since run {run.uid} wrote it (hash {artifact.hash} then)")
    return Start(artifact, run, "location", uri, notes)


def _by_content(session: Any, target: Any, uri: str, now_hash: str | None) -> Start | None:
    """No run is recorded writing `uri`: the artifact with the file's bytes, and their first creator."""
    if now_hash is None:
        return None
    artifact = session.scalars(select(Artifact).where(Artifact.hash == now_hash).order_by(Artifact.id)).first()
    if artifact is None:
        return None
    creator = artifact.run
    note = f"no run is recorded writing {target}; matched by content hash to artifact {artifact.uid}" + (
        f", first created by run {creator.uid}" if creator is not None else ""
    )
    return Start(artifact, creator, "content", uri, [note])


def _as_read(session: Any, target: Any, uri: str) -> Start:
    """A location only ever read (an input link), or an artifact's last known location."""
    read = artifact_read_at(session, uri)
    artifact = session.get(Artifact, read) if read is not None else None
    if artifact is None:
        artifact = session.scalars(select(Artifact).where(Artifact.path == uri).order_by(Artifact.id.desc())).first()
    if artifact is None:
        raise DoesNotExist(f"{target}: no run wrote or read this location and no artifact has its content")
    return Start(artifact, None, "location", uri, [f"no run is recorded writing {target}"])


def of_path(target: str | Path, direction: str = "upstream", depth: int | None = None, store: Any = None) -> Lineage:
    """The lineage walk of a file: from the run that last wrote its path (see `locate`)."""
    start = locate(target, store)
    graph = walk(start.artifact, direction, depth, store=store, path=start.path, start_run=start.run)
    graph.notes = start.notes + graph.notes
    return graph


__all__ = ["Lineage", "Start", "downstream", "locate", "of_path", "upstream", "walk"]
