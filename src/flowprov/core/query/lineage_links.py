"""The per-run links lineage walks, and the rule that picks which run wrote what a run read.

A run read an artifact at a path (an input link) or as a member of a collection it read. The run
that produced that read is, by location first: among the runs with an output link for the same
bytes at the same path (not the reader itself), the last one that wrote it no later than the
reader started (else the earliest one, when clocks disagree). When no run is recorded writing
those bytes there, it falls back to content: the artifact's first creator (`Artifact.run`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import column, select, table

CHUNK = 5000
INPUT = table("flowprov_run_input_artifact", column("run_id"), column("artifact_id"), column("path"))
OUTPUT = table(
    "flowprov_run_output_artifact", column("run_id"), column("artifact_id"), column("path"), column("written_at")
)
RUN_COLLECTION = table("flowprov_run_input_collection", column("run_id"), column("collection_id"))
MEMBER = table("flowprov_collection_artifact", column("collection_id"), column("artifact_id"))
ARTIFACT = table("flowprov_artifact", column("id"), column("run_id"), column("path"))
RUN = table("flowprov_run", column("id"), column("started_at"))


@dataclass(frozen=True)
class Read:
    """One thing a run read: artifact bytes at a path, directly or through a collection."""

    reader: int
    artifact: int
    path: str
    reader_started: dt.datetime | None
    creator: int | None  # Artifact.run: the fallback by content
    collection: int | None = None


@dataclass(frozen=True)
class Write:
    run: int
    artifact: int
    path: str
    written_at: dt.datetime | None


def chunks(values: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def as_time(value: Any) -> dt.datetime | None:
    """Raw link-table times: SQLite returns naive UTC strings, PostgreSQL aware datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _reads(session: Any, where_run: Any, where_member: Any) -> list[Read]:
    direct = (
        select(INPUT.c.run_id, INPUT.c.artifact_id, INPUT.c.path, RUN.c.started_at, ARTIFACT.c.run_id)
        .join(RUN, RUN.c.id == INPUT.c.run_id)
        .join(ARTIFACT, ARTIFACT.c.id == INPUT.c.artifact_id)
    )
    reads = [Read(r, a, p or "", as_time(t), c) for r, a, p, t, c in session.execute(direct.where(where_run(INPUT)))]
    via = (
        select(RUN_COLLECTION.c.run_id, MEMBER.c.artifact_id, ARTIFACT.c.path, RUN.c.started_at, ARTIFACT.c.run_id)
        .add_columns(RUN_COLLECTION.c.collection_id)
        .join(MEMBER, MEMBER.c.collection_id == RUN_COLLECTION.c.collection_id)
        .join(RUN, RUN.c.id == RUN_COLLECTION.c.run_id)
        .join(ARTIFACT, ARTIFACT.c.id == MEMBER.c.artifact_id)
    )
    condition = where_run(RUN_COLLECTION) if where_member is None else where_member
    reads += [Read(r, a, p or "", as_time(t), c, k) for r, a, p, t, c, k in session.execute(via.where(condition))]
    return reads


def reads_of_runs(session: Any, run_ids: Iterable[int]) -> list[Read]:
    """Everything these runs read."""
    out: list[Read] = []
    for chunk in chunks(run_ids):
        out += _reads(session, lambda t, c=chunk: t.c.run_id.in_(c), None)
    return out


def reads_of_artifacts(session: Any, artifact_ids: Iterable[int]) -> list[Read]:
    """Every read of these artifacts, by any run."""
    out: list[Read] = []
    for chunk in chunks(artifact_ids):
        out += _reads(session, lambda t, c=chunk: t.c.artifact_id.in_(c), MEMBER.c.artifact_id.in_(chunk))
    return out


def writes_of_artifacts(session: Any, artifact_ids: Iterable[int]) -> dict[tuple[int, str], list[Write]]:
    """(artifact id, path) -> every run that wrote those bytes there."""
    out: dict[tuple[int, str], list[Write]] = {}
    for chunk in chunks(artifact_ids):
        stmt = select(OUTPUT.c.run_id, OUTPUT.c.artifact_id, OUTPUT.c.path, OUTPUT.c.written_at)
        for r, a, p, t in session.execute(stmt.where(OUTPUT.c.artifact_id.in_(chunk))):
            out.setdefault((a, p), []).append(Write(r, a, p, as_time(t)))
    return out


def writes_of_runs(session: Any, run_ids: Iterable[int]) -> list[Write]:
    out: list[Write] = []
    for chunk in chunks(run_ids):
        stmt = select(OUTPUT.c.run_id, OUTPUT.c.artifact_id, OUTPUT.c.path, OUTPUT.c.written_at)
        out += [Write(r, a, p, as_time(t)) for r, a, p, t in session.execute(stmt.where(OUTPUT.c.run_id.in_(chunk)))]
    return out


def last_writer(writes: list[Write], reader: int | None = None, before: dt.datetime | None = None) -> Write | None:
    """The write a reader (started at `before`) saw: the last one no later than it started."""
    candidates = [w for w in writes if w.run != reader]
    if not candidates:
        return None
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    seen = [w for w in candidates if before is None or w.written_at is None or w.written_at <= before]
    if seen:
        return max(seen, key=lambda w: (w.written_at or oldest, w.run))
    return min(candidates, key=lambda w: (w.written_at or oldest, w.run))


def producer(read: Read, writes: dict[tuple[int, str], list[Write]]) -> tuple[int | None, bool]:
    """(run that produced what `read` read, True when found by content rather than location)."""
    chosen = last_writer(writes.get((read.artifact, read.path), []), read.reader, read.reader_started)
    if chosen is not None:
        return chosen.run, False
    if read.creator is not None and read.creator != read.reader:
        return read.creator, True
    return None, False
