"""Lineage: which runs and artifacts led to a record (upstream) or came from it (downstream).

The walk follows the per-run links (lineage_links): upstream, a run -> what it read (directly or
through a collection) -> the run that produced each read, chosen by location first (the last run
that wrote those bytes at that path before the reader started), then by content (the artifact's
first creator), which `notes` says. Downstream is the same rule seen from the writer: a run ->
what it wrote -> the runs whose reads it produced. Each step costs a few batched queries; a
run is visited once, so a cycle in bad data still terminates.

Depth counts runs: depth=1 upstream of an artifact is the run that wrote it and that run's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from flowprov.core.query.lineage_graph import Lineage
from flowprov.core.query.lineage_links import Links, Read, chunks, last_writer, producer


@dataclass
class _Graph:
    """What a walk reached, by id; edges are ((kind, id), (kind, id)) with kind r/a/c."""

    runs: set[int] = field(default_factory=set)
    artifacts: set[int] = field(default_factory=set)
    collections: set[int] = field(default_factory=set)
    edges: set[tuple[tuple[str, int], tuple[str, int], str]] = field(default_factory=set)
    by_content: list[tuple[int, int, str, int]] = field(default_factory=list)  # artifact, reader, path, creator

    def add_read(self, read: Read) -> None:
        self.artifacts.add(read.artifact)
        self.runs.add(read.reader)
        if read.collection is None:
            self.edges.add((("a", read.artifact), ("r", read.reader), read.path))
            return
        self.collections.add(read.collection)
        self.edges.add((("a", read.artifact), ("c", read.collection), read.path))
        self.edges.add((("c", read.collection), ("r", read.reader), ""))

    def add_write(self, run_id: int, artifact_id: int, path: str) -> None:
        self.runs.add(run_id)
        self.artifacts.add(artifact_id)
        self.edges.add((("r", run_id), ("a", artifact_id), path))

    def add_produced(self, read: Read, run_id: int, by_content: bool) -> None:
        self.add_write(run_id, read.artifact, read.path)
        if by_content:
            self.by_content.append((read.artifact, read.reader, read.path, run_id))


def _walk_up(links: Links, graph: _Graph, frontier: set[int], level: int, depth: int | None) -> None:
    """From runs at `level`: what they read and, within the depth, the runs that produced it."""
    seen = set(frontier)
    if depth is None:
        links.prefetch_upstream(frontier)
    while frontier and (depth is None or level <= depth):
        reads = links.reads_of_runs(frontier)
        writes = links.writes_of_artifacts({r.artifact for r in reads})
        following: set[int] = set()
        for read in reads:
            graph.add_read(read)
            if depth is not None and level + 1 > depth:
                continue
            run_id, by_content = producer(read, writes)
            if run_id is None:
                continue
            graph.add_produced(read, run_id, by_content)
            if run_id not in seen:
                seen.add(run_id)
                following.add(run_id)
        frontier, level = following, level + 1


def _produced_reads(links: Links, frontier: set[int], artifact_ids: set[int]) -> list[tuple[Read, bool]]:
    """Reads of these artifacts that runs of `frontier` produced (by the lineage_links rule)."""
    reads = links.reads_of_artifacts(artifact_ids)
    writes = links.writes_of_artifacts({r.artifact for r in reads})
    out = []
    for read in reads:
        run_id, by_content = producer(read, writes)
        if run_id in frontier:
            out.append((read, by_content))
    return out


def _walk_down(links: Links, graph: _Graph, frontier: set[int], level: int, depth: int | None) -> None:
    """From runs at `level`: what they wrote and, within the depth, the runs that read it."""
    seen = set(frontier)
    if depth is None:
        links.prefetch_downstream(frontier)
    while frontier and (depth is None or level <= depth):
        writes = links.writes_of_runs(frontier)
        for w in writes:
            graph.add_write(w.run, w.artifact, w.path)
        following: set[int] = set()
        if depth is None or level + 1 <= depth:
            for read, by_content in _produced_reads(links, frontier, {w.artifact for w in writes}):
                graph.add_read(read)
                if by_content:
                    graph.by_content.append((read.artifact, read.reader, read.path, -1))
                if read.reader not in seen:
                    seen.add(read.reader)
                    following.add(read.reader)
        frontier, level = following, level + 1


def _start_upstream(links: Links, graph: _Graph, root: Any, path: str, start_run: Any) -> int | None:
    """The run that wrote the root artifact at `path`: the last writer there, else its creator."""
    graph.artifacts.add(root.id)
    if start_run is not None:
        graph.add_write(start_run.id, root.id, path)
        return start_run.id
    chosen = last_writer(links.writes_of_artifacts([root.id]).get((root.id, path), []))
    if chosen is not None:
        graph.add_write(chosen.run, root.id, path)
        return chosen.run
    if root.run_id is not None:
        graph.add_write(root.run_id, root.id, root.path or "")
    return root.run_id


def _start_downstream(links: Links, graph: _Graph, root: Any, path: str) -> set[int]:
    """Runs that read the root artifact at `path` (or where no run is recorded writing it)."""
    graph.artifacts.add(root.id)
    reads = links.reads_of_artifacts([root.id])
    writes = links.writes_of_artifacts([root.id])
    readers = set()
    for read in reads:
        if read.path in ("", path) or not writes.get((read.artifact, read.path)):
            graph.add_read(read)
            readers.add(read.reader)
    return readers


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
    from flowprov.core.registry import Artifact, Run

    _check_walk(root, direction, depth)
    store = store or root._target_store(None)
    session = store.session
    graph = _Graph()
    where = (path or root.path or "") if isinstance(root, Artifact) else None
    try:
        links = Links(session)
        if isinstance(root, Run):
            graph.runs.add(root.id)
            (_walk_up if direction == "upstream" else _walk_down)(links, graph, {root.id}, 1, depth)
        elif depth is None or depth >= 1:
            if direction == "upstream":
                first = _start_upstream(links, graph, root, where or "", start_run)
                if first is not None:
                    _walk_up(links, graph, {first}, 1, depth)
            else:
                _walk_down(links, graph, _start_downstream(links, graph, root, where or ""), 1, depth)
        else:
            graph.artifacts.add(root.id)
        return _lineage(session, graph, root, direction, where, start_run)
    finally:
        store.release()


def _check_walk(root: Any, direction: str, depth: int | None) -> None:
    from flowprov.core.registry import Artifact, Run

    if direction not in ("upstream", "downstream"):
        raise ValueError("direction is 'upstream' or 'downstream'")
    if depth is not None and depth < 0:
        raise ValueError("depth must be >= 0 (or None for any depth)")
    if not isinstance(root, (Artifact, Run)):
        raise TypeError(f"lineage takes an Artifact or a Run, not {type(root).__name__}")
    if root.id is None:
        raise ValueError(f"{type(root).__name__} is not saved; lineage needs a stored record")


def _lineage(session: Any, graph: _Graph, root: Any, direction: str, path: str | None, start_run: Any) -> Lineage:
    """Load the records a walk reached and name its edges by uid."""
    from flowprov.core.registry import Artifact, Collection, Run

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
    for chunk in chunks(ids):
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
    from flowprov.core.registry.artifact import path_to_uri

    return path_to_uri(path)


__all__ = ["Lineage", "downstream", "upstream", "walk"]
