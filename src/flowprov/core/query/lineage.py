"""Lineage by ids, from the link tables: which runs and artifacts led to a run or an artifact
(upstream) or came from it (downstream). Records are loaded above (flowprov.core.registry.lineage).

The walk follows the per-run links (lineage_links): upstream, a run -> what it read (directly or
through a collection) -> the run that produced each read, chosen by location first (the last run
that wrote those bytes at that path before the reader started), then by content (the artifact's
first creator), which the graph's `by_content` notes. Downstream is the same rule seen from the
writer: a run -> what it wrote -> the runs whose reads it produced. Each step costs a few batched
queries; a run is visited once, so a cycle in bad data still terminates.

Depth counts runs: depth=1 upstream of an artifact is the run that wrote it and that run's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowprov.core.query.lineage_links import Links, Read, last_writer, producer

DIRECTIONS = ("upstream", "downstream")


@dataclass(frozen=True)
class ArtifactRoot:
    """What a walk needs of the artifact it starts from."""

    id: int
    run_id: int | None  # the run that created these bytes first (the fallback by content)
    path: str | None  # its last known location


@dataclass
class LinkGraph:
    """What a walk reached, by id; edges are ((kind, id), (kind, id), location) with kind r/a/c."""

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


def _walk_up(links: Links, graph: LinkGraph, frontier: set[int], level: int, depth: int | None) -> None:
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


def _walk_down(links: Links, graph: LinkGraph, frontier: set[int], level: int, depth: int | None) -> None:
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


def _start_upstream(links: Links, graph: LinkGraph, root: ArtifactRoot, path: str, start_run: int | None) -> int | None:
    """The run that wrote the root artifact at `path`: the last writer there, else its creator."""
    graph.artifacts.add(root.id)
    if start_run is not None:
        graph.add_write(start_run, root.id, path)
        return start_run
    chosen = last_writer(links.writes_of_artifacts([root.id]).get((root.id, path), []))
    if chosen is not None:
        graph.add_write(chosen.run, root.id, path)
        return chosen.run
    if root.run_id is not None:
        graph.add_write(root.run_id, root.id, root.path or "")
    return root.run_id


def _start_downstream(links: Links, graph: LinkGraph, root: ArtifactRoot, path: str) -> set[int]:
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


def check_walk(direction: str, depth: int | None) -> None:
    if direction not in DIRECTIONS:
        raise ValueError("direction is 'upstream' or 'downstream'")
    if depth is not None and depth < 0:
        raise ValueError("depth must be >= 0 (or None for any depth)")


def walk_run(session: Any, run_id: int, direction: str = "upstream", depth: int | None = None) -> LinkGraph:
    """The lineage of a stored run, by ids."""
    check_walk(direction, depth)
    links, graph = Links(session), LinkGraph()
    graph.runs.add(run_id)
    (_walk_up if direction == "upstream" else _walk_down)(links, graph, {run_id}, 1, depth)
    return graph


def walk_artifact(
    session: Any,
    root: ArtifactRoot,
    path: str,
    direction: str = "upstream",
    depth: int | None = None,
    start_run: int | None = None,
) -> LinkGraph:
    """The lineage of a stored artifact met at `path` ("" when unknown), by ids; `start_run`
    (upstream) is the run known to have written it there."""
    check_walk(direction, depth)
    links, graph = Links(session), LinkGraph()
    graph.artifacts.add(root.id)
    if depth is not None and depth < 1:
        return graph
    if direction == "upstream":
        first = _start_upstream(links, graph, root, path, start_run)
        if first is not None:
            _walk_up(links, graph, {first}, 1, depth)
    else:
        _walk_down(links, graph, _start_downstream(links, graph, root, path), 1, depth)
    return graph


__all__ = ["ArtifactRoot", "LinkGraph", "check_walk", "walk_artifact", "walk_run"]
