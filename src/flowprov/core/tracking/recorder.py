"""The Recorder: the one way adapters write runs.

    rec = Recorder()                                   # the current store, or Recorder(store)
    flow = rec.open_run(TransformSpec(key="etl.py:etl", name="etl"), reference=flow_run_id,
                        reference_type="prefect_flow_run_id", name="crimson-fox", params={...})
    task = rec.open_run(TransformSpec(key="etl.py:etl#load", type="step"), reference=task_run_id,
                        reference_type="prefect_task_run_id", name="load-0", parent=flow)
    task.add_input("data/raw.csv"); task.add_output("data/clean.parquet")
    rec.close_run(task, "completed"); rec.close_run(flow, "completed")
    rec.flush()                                        # one transaction for all of the above

Semantics:
- `open_run` is idempotent on (reference_type, reference, name): opening a run that is already
  stored (a re-ingested trace, a resumed workflow, a hook that fires twice) updates that record
  instead of adding another. Params and aux are merged; the status and times are overwritten by
  what was recorded last.
- Everything is buffered and written by `flush()` in **one transaction**: transforms (deduplicated
  by key and source hash), runs (parents before children), artifacts (deduplicated by content),
  input links and output ownership. A workflow with thousands of steps costs a few transactions.
  `flush()` runs by itself every `flush_every` closed runs.
- Before anything is written, every run is checked by the field rules of `save()` (lengths, NUL
  characters, JSON values): a `ValidationError` names the run, the field and, for an ingest, the
  file and line, and nothing of the flush is written (`recorder_write.check_pending`).
- **Bulk rows** (`run_row` + `add_rows`): many child runs of one parent that carry no files, as
  plain validated tuples with their aux already serialised, written by the same flush with one
  executemany, no `RunHandle` per run (a 100k-task Nextflow trace). Idempotent like `open_run`:
  a row whose (reference_type, reference, name) is stored updates that run.
- Files are hashed when they are added (the moment the adapter sees them), through the hash cache.
  A file that cannot be hashed raises `RecorderError` at once, naming it.
- A failed write is retried (`retries` times, with back-off, for "database is locked" and lost
  connections), then `RecorderError` is raised with the reason; the buffer is kept, so a later
  `flush()` can still write it, and `spool()` saves it as JSON for `flowprov spool replay`
  (`core/tracking/spool.py`). Nothing is dropped silently.

The write itself is `core/tracking/recorder_write.py`, in named steps.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.exceptions import FlowprovError, ValidationError
from flowprov.core.fieldtypes import utcnow
from flowprov.core.hashing import HashingError, hash_path
from flowprov.core.redaction import redact_text
from flowprov.core.registry.params import normalize_param, secret_key_pattern

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store


class RecorderError(FlowprovError, RuntimeError):
    """The recorder could not hash an input or write its buffer to the store."""


@dataclass
class TransformSpec:
    key: str
    name: str | None = None
    type: str = "pipeline"
    version: str | None = None
    source_code: str | None = None
    description: str | None = None
    reference: str | None = None
    reference_type: str | None = None


@dataclass
class FileSpec:
    path: str
    content: dict[str, Any]
    key: str | None = None
    artifact_id: int | None = None  # when an existing record was given


@dataclass
class RunHandle:
    """A run being recorded. `run` is the stored record once the recorder has flushed it."""

    recorder: Recorder = field(repr=False)
    transform: TransformSpec
    reference: str | None
    reference_type: str | None
    name: str | None
    parent: RunHandle | None = field(default=None, repr=False)
    parent_run_id: int | None = None
    parent_run_uid: str | None = None  # a stored parent by uid, so a spool file names it in any store
    uid: str | None = None  # given before the run is stored (a spooled run without a reference)
    params: dict[str, Any] = field(default_factory=dict)
    aux: dict[str, Any] = field(default_factory=dict)
    status: str | None = "started"  # None: keep the stored status
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    inputs: list[FileSpec] = field(default_factory=list)
    outputs: list[FileSpec] = field(default_factory=list)
    environment: FileSpec | None = None
    environment_files: list[FileSpec] = field(default_factory=list)  # lock files: aux["environment_files"]
    report: FileSpec | None = None
    run_id: int | None = None  # set once the run is stored
    dirty: bool = True
    # start time of a new run when none is given; None (adapters reading records after the fact):
    # leave the start empty rather than store the moment of recording
    opened_at: dt.datetime | None = field(default_factory=utcnow)
    stored: bool = False  # True once a flush wrote it; later changes are updates
    aux_dropped: set[str] = field(default_factory=set)  # aux keys to remove from the stored run

    @property
    def run(self) -> Any:
        """The stored Run record (loaded on first access), or None before the first flush."""
        if self.run_id is None:
            return None
        from flowprov.core.registry import Run

        session = self.recorder.store.session
        try:
            return session.get(Run, self.run_id)
        finally:
            self.recorder.store.release()

    def add_params(self, params: dict[str, Any]) -> None:
        pattern = secret_key_pattern()
        with self.recorder._lock:
            self.params.update({k: normalize_param(v, k, pattern) for k, v in params.items()})
            self.dirty = True

    def update_aux(self, values: dict[str, Any]) -> None:
        with self.recorder._lock:
            self.aux.update(values)
            self.aux_dropped.difference_update(values)
            self.dirty = True

    def drop_aux(self, *keys: str) -> None:
        """Remove aux keys, from the buffer and from the stored run at the next flush (a marker
        such as an ingest's "still being written" note, cleared when the work is done)."""
        with self.recorder._lock:
            for key in keys:
                self.aux.pop(key, None)
            self.aux_dropped.update(keys)
            self.dirty = True

    def add_input(self, item: Any, key: str | None = None) -> FileSpec:
        spec = self.recorder._file_spec(item, key)
        with self.recorder._lock:
            self.inputs.append(spec)
            self.dirty = True
        return spec

    def add_output(self, item: Any, key: str | None = None) -> FileSpec:
        spec = self.recorder._file_spec(item, key)
        with self.recorder._lock:
            self.outputs.append(spec)
            self.dirty = True
        return spec

    def set_environment(self, item: Any) -> None:
        self.environment = self.recorder._file_spec(item, None)
        self.dirty = True

    def add_environment_file(self, item: Any) -> None:
        """A lock file (uv.lock, environment.yml, ...) of the run's environment; its artifact's uid
        goes to `aux["environment_files"]` when the run is written."""
        self.environment_files.append(self.recorder._file_spec(item, None))
        self.dirty = True

    def set_report(self, item: Any) -> None:
        self.report = self.recorder._file_spec(item, None)
        self.dirty = True


# (transform index, reference, name, status, started_at, finished_at, aux as stored JSON text)
RunRow = tuple[int, str, "str | None", str, "dt.datetime | None", "dt.datetime | None", str]


@dataclass
class RunRows:
    """Child runs of one parent as plain rows (see module doc): `transforms[i]` is the transform of
    the rows whose first value is i (the list may grow between batches; indexes stay)."""

    parent: RunHandle
    reference_type: str
    transforms: list[TransformSpec]
    rows: list[RunRow]


_ROW_LIMITS: dict[str, Any] = {}


def _row_limits() -> dict[str, Any]:
    """The Run columns' length limits, and the status names (`"status"`)."""
    if not _ROW_LIMITS:
        from flowprov.core.registry import Run
        from flowprov.core.registry.run import STATUS_CODES

        for column in ("name", "reference"):
            _ROW_LIMITS[column] = getattr(Run.__table__.c[column].type, "length", None) or 1 << 62
        _ROW_LIMITS["status"] = frozenset(STATUS_CODES)
    return _ROW_LIMITS


def _row_problem(where: str, label: str | None, fieldname: str, value: Any, limit: int) -> None:
    if type(value) is not str:
        problem = f"Expected a string, got {type(value).__name__} {value!r}."
    elif len(value) > limit:
        problem = f"Ensure this value has at most {limit} characters (it has {len(value)})."
    else:
        problem = "NUL characters cannot be stored (PostgreSQL refuses them)."
    raise ValidationError(f"{where}run {label!r}: field {fieldname!r}: {problem}")


_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_ENCODE_ASCII = json.JSONEncoder(allow_nan=False).encode


def aux_text(aux: dict[str, Any]) -> str:
    """`aux` as a JSON column stores it (the stores' redacting serialiser); ValueError for what
    no store holds (NaN, infinity, NUL characters)."""
    text = _ENCODE(aux)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (undecodable file names) stay escaped
            text = _ENCODE_ASCII(aux)
    if "\\u0000" in text:
        raise ValueError("NUL characters cannot be stored")
    return redact_text(text)


def _files_of(h: RunHandle) -> list[FileSpec]:
    files = [*h.inputs, *h.outputs, *h.environment_files]
    return files + [f for f in (h.environment, h.report) if f is not None]


def _forget_rolled_back(pending: list[RunHandle], unsaved_files: list[FileSpec]) -> None:
    """Ids handed out inside a transaction that was rolled back name nothing: a retry (or a spool
    file replayed into the same store) must save those runs and artifacts again."""
    for h in pending:
        if not h.stored:
            h.run_id = None
    for f in unsaved_files:
        f.artifact_id = None


def _is_retryable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Recorder:
    """Buffers runs, params and files and writes them in few transactions (see module doc)."""

    def __init__(self, store: Any = None, flush_every: int = 1000, retries: int = 5):
        self._store = store
        self.flush_every = flush_every
        self.retries = retries
        self.handles: list[RunHandle] = []
        self._index: dict[tuple, RunHandle] = {}  # (reference_type, reference, name) -> handle
        self._closed_since_flush = 0
        self.row_batches: list[RunRows] = []  # bulk rows waiting for the next flush
        self._lock = threading.RLock()
        self.inserted = 0  # runs this recorder added to the store (not found there)

    @property
    def store(self) -> Store:
        """The store given (a Store, or a URL, path or name: connected, and made the current store
        as `flowprov.connect` does, on first use), else the current store."""
        if self._store is None or isinstance(self._store, (str, os.PathLike)):
            from flowprov.core.store.connection import connect, current_store

            self._store = current_store() if self._store is None else connect(self._store)
        return self._store

    # -- building ------------------------------------------------------------------------
    def file_spec(self, item: Any, key: str | None = None) -> FileSpec:
        """A file hashed now, to be added to a run later (`add_input(spec)`): for a file that may be
        gone by the time the run is recorded (a workflow's temporary file)."""
        return self._file_spec(item, key)

    def _file_spec(self, item: Any, key: str | None) -> FileSpec:
        from flowprov.core.registry.artifact import Artifact, path_to_uri

        if isinstance(item, FileSpec):
            return FileSpec(item.path, dict(item.content), key or item.key, item.artifact_id)
        if isinstance(item, Artifact):
            if item.id is None:
                item = item.save()
            return FileSpec(path=item.uri or "", content={}, key=item.key, artifact_id=item.id)
        try:
            content = hash_path(Path(item))
        except HashingError as exc:
            raise RecorderError(f"cannot record {item}: {exc}") from None
        return FileSpec(path=path_to_uri(item), content=asdict(content), key=key)

    def open_run(
        self,
        transform: TransformSpec,
        *,
        reference: str | None,
        reference_type: str | None,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        parent: RunHandle | Any | int | None = None,
        started_at: dt.datetime | None = None,
        status: str | None = "started",
        aux: dict[str, Any] | None = None,
    ) -> RunHandle:
        """Start recording a run (or continue one with the same reference_type, reference, name).

        `status=None` leaves the status of a run that is already recorded as it is.
        """
        with self._lock:
            key = (reference_type, reference, name)
            handle = self._index.get(key) if reference is not None else None
            if handle is not None:
                handle.dirty = True
                handle.status = status or handle.status
                handle.started_at = started_at or handle.started_at
                if params:
                    handle.add_params(params)
                if aux:
                    handle.update_aux(aux)
                return handle
            handle = RunHandle(self, transform, reference, reference_type, name, started_at=started_at, status=status)
            if isinstance(parent, RunHandle):
                handle.parent = parent
            elif isinstance(parent, int):  # a stored run's id
                handle.parent_run_id = parent
            elif parent is not None:  # a stored Run
                handle.parent_run_id, handle.parent_run_uid = parent.id, parent.uid
            if params:
                handle.add_params(params)
            if aux:
                handle.aux.update(aux)
            self.handles.append(handle)
            if reference is not None:
                self._index[key] = handle
            return handle

    def run_row(
        self,
        transform_index: int,
        reference: str,
        name: str | None,
        status: str,
        started_at: dt.datetime | None,
        finished_at: dt.datetime | None,
        aux: dict[str, Any],
        where: str = "",
    ) -> RunRow:
        """One validated bulk row (the field rules `flush` applies to a handle); `where` (e.g.
        `trace.txt:12: `) starts the ValidationError's message."""
        limits = _row_limits()
        for fieldname, value in (("reference", reference), ("name", name)):
            if type(value) is str and len(value) <= limits[fieldname] and "\x00" not in value:
                continue  # the usual case: two comparisons and a scan
            if value is None and fieldname == "name":
                continue
            _row_problem(where, name or reference, fieldname, value, limits[fieldname])
        if status not in limits["status"]:
            raise ValidationError(f"{where}run {name or reference!r}: field 'status': unknown status {status!r}")
        try:
            text = aux_text(aux)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{where}run {name or reference!r}: field 'aux': {exc}.") from None
        return (transform_index, reference, name, status, started_at, finished_at, text)

    def add_rows(self, batch: RunRows) -> None:
        """Buffer bulk rows for the next flush (written after the handles, in its transaction)."""
        with self._lock:
            if batch.rows:
                self.row_batches.append(batch)

    def close_run(
        self,
        handle: RunHandle,
        status: str = "completed",
        finished_at: dt.datetime | None = None,
        unknown_end: str | None = None,
    ) -> None:
        """End a run at `finished_at` (default: now, for adapters that see the end happen).

        An adapter reading records after the fact passes `unknown_end` (why no end is known)
        instead: with no `finished_at` the end then stays empty and aux["finished_at_unknown"]
        says why, so no stored time is the moment of recording.
        """
        with self._lock:
            handle.status = status
            if finished_at is None and unknown_end is not None:
                handle.finished_at = None
                handle.aux["finished_at_unknown"] = unknown_end
            else:
                handle.finished_at = finished_at or utcnow()
            handle.dirty = True
            self._closed_since_flush += 1
            due = self._closed_since_flush >= self.flush_every
        if due:
            self.flush()

    def forget(self, keep: list[RunHandle]) -> None:
        """Drop written handles (except `keep`) so a long stream of runs uses flat memory."""
        with self._lock:
            kept = {id(h) for h in keep}
            self.handles = [h for h in self.handles if h.dirty or id(h) in kept]
            self._index = {k: h for k, h in self._index.items() if h.dirty or id(h) in kept}

    # -- reading ---------------------------------------------------------------------------
    def unfinished_runs(self, reference_type: str) -> list[Any]:
        """The stored runs of a reference type still open (started, restarted, scheduled), oldest
        first: what an adapter settles from its manager when it saw no end."""
        from flowprov.core.registry import Run

        query = Run.using(self.store).filter(
            reference_type=reference_type, status__in=["started", "restarted", "scheduled"]
        )
        return list(query.order_by("id"))

    def find_run(self, reference_type: str, reference: str, name: str | None = None) -> Any:
        """The stored run of an external id (the newest if several), or None: adapters look runs
        up here instead of importing the registry."""
        from flowprov.core.registry import Run

        query = Run.using(self.store).filter(reference_type=reference_type, reference=reference)
        if name is not None:
            query = query.filter(name=name)
        return query.order_by("-id").first()

    def find_transform(self, key: str, version: str | None = None) -> TransformSpec | None:
        """The newest stored transform of `key` (and `version`, when given) as a spec, or None:
        an adapter recording after the fact reuses it instead of guessing its source."""
        from flowprov.core.registry import Transform

        query = Transform.using(self.store).filter(key=key)
        if version is not None:
            query = query.filter(version=version)
        t = query.order_by("-id").first()
        if t is None:
            return None
        return TransformSpec(
            key=t.key or key, name=t.name, type=t.type, version=t.version_tag, source_code=t.source_code
        )

    def find_runs(
        self, reference_type: str, references: list[str], not_under: tuple[str | None, str | None] | None = None
    ) -> dict[str, str]:
        """reference -> uid of the stored runs with these references (the newest if several);
        `not_under=(reference, name)` leaves out the children of that parent run (a launch
        looking for the earlier runs of its own cached tasks)."""
        from flowprov.core.registry import Run

        found: dict[str, str] = {}
        wanted = sorted(set(references))
        for start in range(0, len(wanted), 5000):
            query = Run.using(self.store).filter(
                reference_type=reference_type, reference__in=wanted[start : start + 5000]
            )
            if not_under is not None:
                query = query.exclude(initiated_by_run__reference=not_under[0], initiated_by_run__name=not_under[1])
            for run in query.order_by("id"):
                if run.reference is not None:
                    found[run.reference] = run.uid
        return found

    def find_child_runs(self, reference_type: str, parent: tuple[str | None, str | None], **fields: Any) -> list[Any]:
        """The stored runs of a reference type under the parent run `(reference, name)` (found by
        its identity, so a parent not flushed by this recorder works too), filtered by `fields`
        (e.g. `name=..., status="errored"`), oldest first."""
        from flowprov.core.registry import Run

        query = Run.using(self.store).filter(
            reference_type=reference_type,
            initiated_by_run__reference=parent[0],
            initiated_by_run__name=parent[1],
            **fields,
        )
        return list(query.order_by("id"))

    def child_run_facts(
        self, parent_id: int | None, reference_type: str, size: int = 5000
    ) -> Iterator[list[tuple[str | None, str | None, str | None, dict[str, Any]]]]:
        """The stored children of run `parent_id` of a reference type, in pages of `size`:
        (reference, name, transform name, aux) each, read as rows (no records built)."""
        from sqlalchemy import select

        from flowprov.core.registry import Run, Transform

        session = self.store.session
        query = (
            select(Run.id, Run.reference, Run.name, Transform.name, Run.aux)
            .join(Transform, Run.transform_id == Transform.id)
            .where(Run.initiated_by_run_id == parent_id, Run.reference_type == reference_type)
            .order_by(Run.id)
        )
        last = 0
        try:
            while True:
                rows = session.execute(query.where(Run.id > last).limit(size)).all()
                if not rows:
                    return
                last = rows[-1][0]
                yield [(ref, name, transform, aux or {}) for _, ref, name, transform, aux in rows]
        finally:
            self.store.release()

    # -- writing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every change since the last flush in one transaction (retried; see module doc)."""
        from flowprov.core.tracking.recorder_write import check_pending, write_pending

        with self._lock:
            pending = [h for h in self.handles if h.dirty]
            batches = self.row_batches
            if not pending and not batches:
                return
            check_pending(pending)  # the same field rules as save(), before anything is written
            # Inside a caller's transaction (one transaction per ingest), a failed write cannot be
            # retried here: the caller's transaction is lost, so the error goes straight up.
            retries = 0 if self.store.in_write_transaction() else self.retries
            unsaved_files = [f for h in pending for f in _files_of(h) if f.artifact_id is None]
            delay = 0.2
            for attempt in range(retries + 1):
                try:
                    inserted, row_ids = write_pending(self.store, pending, batches)
                    self.inserted += inserted
                    break
                except Exception as exc:
                    _forget_rolled_back(pending, unsaved_files)
                    if attempt < retries and _is_retryable(exc):
                        time.sleep(delay)
                        delay = min(delay * 2, 5.0)
                        continue
                    raise RecorderError(
                        f"could not write {len(pending)} run(s) to {self.store.display_url}: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                    ) from exc
            for h in pending:
                h.dirty = False
                h.stored = True
            self._closed_since_flush = 0
            self.row_batches = []
        from flowprov.core.tracking.listeners import notify

        notify([h.run_id for h in pending if h.run_id is not None] + row_ids, self.store)

    def spool(self, directory: Path | None = None) -> Path:
        """Save what is buffered as JSON (when the store cannot be written) and return the file."""
        from flowprov.core.tracking.spool import write_spool

        with self._lock:
            self._rows_to_handles()
        return write_spool(self, directory)

    def _rows_to_handles(self) -> None:
        """Buffered bulk rows as handles (a spool file lists runs one by one)."""
        for batch in self.row_batches:
            for index, reference, name, status, started_at, finished_at, text in batch.rows:
                handle = self.open_run(
                    batch.transforms[index],
                    reference=reference,
                    reference_type=batch.reference_type,
                    name=name,
                    parent=batch.parent,
                    started_at=started_at,
                    status=status,
                    aux=json.loads(text),
                )
                handle.opened_at = None
                handle.finished_at = finished_at
        self.row_batches = []
