"""Where lineage of a file starts: the run that last wrote its path, else its bytes' first creator.

    start = locate("results/B.txt")          # Start(artifact, run, matched_by, notes)
    graph = of_path("results/B.txt")          # the lineage walk from there (upstream by default)

By location first: the output link with this path that was written last names the run and the
artifact (the bytes it wrote there). Without one, the file's content hash is looked up (the
artifact's first creator), and `notes` says so; a path that only ever was read is found by its
input links or the artifact's last known location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flowprov.core.query.lineage_links import INPUT, OUTPUT, Write, as_time, last_writer


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


def _by_location(session: Any, uri: str) -> tuple[int, int] | None:
    """(artifact id, run id) of the last write at `uri`."""
    rows = session.execute(
        select(OUTPUT.c.run_id, OUTPUT.c.artifact_id, OUTPUT.c.path, OUTPUT.c.written_at).where(OUTPUT.c.path == uri)
    ).all()
    chosen = last_writer([Write(r, a, p, as_time(t)) for r, a, p, t in rows])
    return (chosen.artifact, chosen.run) if chosen is not None else None


def locate(target: str | Path, store: Any = None) -> Start:
    """Find the artifact and run lineage of `target` (a path) starts from; DoesNotExist if none."""
    from flowprov.core.exceptions import DoesNotExist
    from flowprov.core.registry import Artifact, Run
    from flowprov.core.registry.artifact import path_to_uri
    from flowprov.core.store.connection import current_store

    store = store or current_store()
    path, uri = Path(target), path_to_uri(target)
    now_hash = _current_hash(path)
    session = store.session
    try:
        found = _by_location(session, uri)
        if found is not None:
            artifact, run = session.get(Artifact, found[0]), session.get(Run, found[1])
            notes = []
            if now_hash is not None and now_hash != artifact.hash:
                notes.append(f"{target} has changed since run {run.uid} wrote it (hash {artifact.hash} then)")
            return Start(artifact, run, "location", uri, notes)
        if now_hash is not None:
            artifact = session.scalars(select(Artifact).where(Artifact.hash == now_hash).order_by(Artifact.id)).first()
            if artifact is not None:
                creator = artifact.run
                note = f"no run is recorded writing {target}; matched by content hash to artifact {artifact.uid}" + (
                    f", first created by run {creator.uid}" if creator is not None else ""
                )
                return Start(artifact, creator, "content", uri, [note])
        read = session.execute(select(INPUT.c.artifact_id).where(INPUT.c.path == uri)).scalars().first()
        artifact = session.get(Artifact, read) if read is not None else None
        if artifact is None:
            artifact = session.scalars(
                select(Artifact).where(Artifact.path == uri).order_by(Artifact.id.desc())
            ).first()
        if artifact is None:
            raise DoesNotExist(f"{target}: no run wrote or read this location and no artifact has its content")
        return Start(artifact, None, "location", uri, [f"no run is recorded writing {target}"])
    finally:
        store.release()


def of_path(target: str | Path, direction: str = "upstream", depth: int | None = None, store: Any = None) -> Any:
    """The lineage walk of a file: from the run that last wrote its path (see `locate`)."""
    from flowprov.core.query.lineage import walk

    start = locate(target, store)
    graph = walk(start.artifact, direction, depth, store=store, path=start.path, start_run=start.run)
    graph.notes = start.notes + graph.notes
    return graph
