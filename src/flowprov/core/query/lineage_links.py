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

from sqlalchemy import bindparam, column, select, table, text

from flowprov.core.util import chunked

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


def as_time(value: Any) -> dt.datetime | None:
    """Raw link-table times: SQLite returns naive UTC strings, PostgreSQL aware datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _direct_reads(column_name: str) -> Any:
    key = INPUT.c[column_name]
    return (
        select(INPUT.c.run_id, INPUT.c.artifact_id, INPUT.c.path, RUN.c.started_at, ARTIFACT.c.run_id)
        .join(RUN, RUN.c.id == INPUT.c.run_id)
        .join(ARTIFACT, ARTIFACT.c.id == INPUT.c.artifact_id)
        .where(key.in_(bindparam("ids", expanding=True)))
    )


def _collection_reads(key: Any) -> Any:
    return (
        select(RUN_COLLECTION.c.run_id, MEMBER.c.artifact_id, ARTIFACT.c.path, RUN.c.started_at, ARTIFACT.c.run_id)
        .add_columns(RUN_COLLECTION.c.collection_id)
        .join(MEMBER, MEMBER.c.collection_id == RUN_COLLECTION.c.collection_id)
        .join(RUN, RUN.c.id == RUN_COLLECTION.c.run_id)
        .join(ARTIFACT, ARTIFACT.c.id == MEMBER.c.artifact_id)
        .where(key.in_(bindparam("ids", expanding=True)))
    )


def _writes(column_name: str) -> Any:
    stmt = select(OUTPUT.c.run_id, OUTPUT.c.artifact_id, OUTPUT.c.path, OUTPUT.c.written_at)
    return stmt.where(OUTPUT.c[column_name].in_(bindparam("ids", expanding=True)))


# Built once: a walk runs them once per layer, and building a statement costs more than running it.
READS_BY_RUN, READS_BY_ARTIFACT = _direct_reads("run_id"), _direct_reads("artifact_id")
COLLECTION_READS_BY_RUN = _collection_reads(RUN_COLLECTION.c.run_id)
COLLECTION_READS_BY_ARTIFACT = _collection_reads(MEMBER.c.artifact_id)
WRITES_BY_RUN, WRITES_BY_ARTIFACT = _writes("run_id"), _writes("artifact_id")
ANY_COLLECTION_READ = select(RUN_COLLECTION.c.run_id).limit(1)
# Runs an upstream walk can reach: readers -> any writer of the same bytes at the same path, or
# the bytes' creator (one recursive term, as PostgreSQL requires; UNION keeps cycles finite).
_UPSTREAM_CLOSURE = text(
    "WITH RECURSIVE up(id) AS ("
    " SELECT id FROM flowprov_run WHERE id IN :ids"
    " UNION"
    " SELECT w.run_id FROM up"
    " JOIN flowprov_run_input_artifact i ON i.run_id = up.id"
    " JOIN (SELECT artifact_id, path, run_id FROM flowprov_run_output_artifact"
    "       UNION ALL SELECT id, NULL, run_id FROM flowprov_artifact WHERE run_id IS NOT NULL) w"
    "   ON w.artifact_id = i.artifact_id AND (w.path = i.path OR w.path IS NULL)"
    ") SELECT id FROM up"
).bindparams(bindparam("ids", expanding=True))
# Runs a downstream walk can reach: writers -> any reader of the same bytes (a superset).
_DOWNSTREAM_CLOSURE = text(
    "WITH RECURSIVE down(id) AS ("
    " SELECT id FROM flowprov_run WHERE id IN :ids"
    " UNION"
    " SELECT i.run_id FROM down"
    " JOIN flowprov_run_output_artifact o ON o.run_id = down.id"
    " JOIN flowprov_run_input_artifact i ON i.artifact_id = o.artifact_id"
    ") SELECT id FROM down"
).bindparams(bindparam("ids", expanding=True))


class Links:
    """Reads the link tables for one walk, on one connection (so cheap per layer)."""

    def __init__(self, session: Any):
        self.conn = session.connection()
        self.collections = self.conn.execute(ANY_COLLECTION_READ).first() is not None
        # filled by a prefetch: what the walk asks for is answered from memory when all is there
        self._reads_cache: dict[int, list[Read]] = {}
        self._run_writes: dict[int, list[Write]] = {}
        self._artifact_reads: dict[int, list[Read]] = {}
        self._writes_cache: dict[tuple[int, str], list[Write]] = {}
        self._writes_known: set[int] = set()

    def _rows(self, stmt: Any, ids: Iterable[int]) -> Iterator[Any]:
        for chunk in chunked(sorted(set(ids))):
            yield from self.conn.execute(stmt, {"ids": chunk})

    def _reads(self, direct: Any, via: Any, ids: set[int]) -> list[Read]:
        reads = [Read(r, a, p or "", as_time(t), c) for r, a, p, t, c in self._rows(direct, ids)]
        if self.collections:
            reads += [Read(r, a, p or "", as_time(t), c, k) for r, a, p, t, c, k in self._rows(via, ids)]
        return reads

    def prefetch_upstream(self, run_ids: set[int]) -> None:
        """Load at once the links of every run an upstream walk from `run_ids` can reach (a
        superset: any writer of the same bytes at the same path, or their creator), so the walk
        costs a few queries instead of a few per layer. Not with collections (walked per layer)."""
        if self.collections:
            return
        closure: set[int] = set()
        for chunk in chunked(sorted(run_ids)):
            closure.update(self.conn.execute(_UPSTREAM_CLOSURE.bindparams(ids=chunk)).scalars())
        reads = self._reads(READS_BY_RUN, COLLECTION_READS_BY_RUN, closure)
        self._reads_cache = {r: [] for r in closure}
        for read in reads:
            self._reads_cache[read.reader].append(read)
        self._writes_cache = self.writes_of_artifacts({r.artifact for r in reads})
        self._writes_known = {r.artifact for r in reads}

    def prefetch_downstream(self, run_ids: set[int]) -> None:
        """The same for a downstream walk: every run that read bytes a reached run wrote."""
        if self.collections:
            return
        closure: set[int] = set()
        for chunk in chunked(sorted(run_ids)):
            closure.update(self.conn.execute(_DOWNSTREAM_CLOSURE.bindparams(ids=chunk)).scalars())
        writes = self.writes_of_runs(closure)
        self._run_writes = {r: [] for r in closure}
        for w in writes:
            self._run_writes[w.run].append(w)
        artifacts = {w.artifact for w in writes}
        reads = self.reads_of_artifacts(artifacts)
        self._artifact_reads = {a: [] for a in artifacts}
        for read in reads:
            self._artifact_reads[read.artifact].append(read)
        self._writes_cache = self.writes_of_artifacts({r.artifact for r in reads} | artifacts)
        self._writes_known = {r.artifact for r in reads} | artifacts

    def reads_of_runs(self, run_ids: Iterable[int]) -> list[Read]:
        """Everything these runs read."""
        wanted = set(run_ids)
        cache = self._reads_cache
        if wanted and wanted <= cache.keys():
            return [read for r in wanted for read in cache[r]]
        return self._reads(READS_BY_RUN, COLLECTION_READS_BY_RUN, wanted)

    def reads_of_artifacts(self, artifact_ids: Iterable[int]) -> list[Read]:
        """Every read of these artifacts, by any run."""
        wanted, cache = set(artifact_ids), self._artifact_reads
        if wanted and wanted <= cache.keys():
            return [read for a in wanted for read in cache[a]]
        return self._reads(READS_BY_ARTIFACT, COLLECTION_READS_BY_ARTIFACT, set(artifact_ids))

    def writes_of_artifacts(self, artifact_ids: Iterable[int]) -> dict[tuple[int, str], list[Write]]:
        """(artifact id, path) -> every run that wrote those bytes there."""
        wanted = set(artifact_ids)
        if wanted and wanted <= self._writes_known:
            return self._writes_cache
        out: dict[tuple[int, str], list[Write]] = {}
        for r, a, p, t in self._rows(WRITES_BY_ARTIFACT, artifact_ids):
            out.setdefault((a, p), []).append(Write(r, a, p, as_time(t)))
        return out

    def writes_of_runs(self, run_ids: Iterable[int]) -> list[Write]:
        wanted, cache = set(run_ids), self._run_writes
        if wanted and wanted <= cache.keys():
            return [w for r in wanted for w in cache[r]]
        return [Write(r, a, p, as_time(t)) for r, a, p, t in self._rows(WRITES_BY_RUN, run_ids)]


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


def last_write_at(session: Any, uri: str) -> Write | None:
    """The write at location `uri` a reader would see now: the one written last."""
    stmt = select(OUTPUT.c.run_id, OUTPUT.c.artifact_id, OUTPUT.c.path, OUTPUT.c.written_at).where(OUTPUT.c.path == uri)
    return last_writer([Write(r, a, p, as_time(t)) for r, a, p, t in session.execute(stmt)])


def artifact_read_at(session: Any, uri: str) -> int | None:
    """The artifact id of a read at location `uri` (for a path that only ever was read)."""
    return session.execute(select(INPUT.c.artifact_id).where(INPUT.c.path == uri)).scalars().first()
