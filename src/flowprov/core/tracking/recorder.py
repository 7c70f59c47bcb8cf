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
- Files are hashed when they are added (the moment the adapter sees them), through the hash cache.
  A file that cannot be hashed raises `RecorderError` at once, naming it.
- A failed write is retried (`retries` times, with back-off, for "database is locked" and lost
  connections), then `RecorderError` is raised with the reason; the buffer is kept, so a later
  `flush()` can still write it, and `spool()` saves it as JSON for `flowprov spool replay`.
  Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowprov.core.exceptions import FlowprovError
from flowprov.core.fieldtypes import utcnow
from flowprov.core.hashing import ContentHash, HashingError, hash_path
from flowprov.core.registry.params import normalize_param, secret_key_pattern


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
    params: dict[str, Any] = field(default_factory=dict)
    aux: dict[str, Any] = field(default_factory=dict)
    status: str | None = "started"  # None: keep the stored status
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    inputs: list[FileSpec] = field(default_factory=list)
    outputs: list[FileSpec] = field(default_factory=list)
    environment: FileSpec | None = None
    report: FileSpec | None = None
    run_id: int | None = None  # set once the run is stored
    dirty: bool = True
    opened_at: dt.datetime = field(default_factory=utcnow)  # start time of a new run when none is given
    stored: bool = False  # True once a flush wrote it; later changes are updates

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

    def set_report(self, item: Any) -> None:
        self.report = self.recorder._file_spec(item, None)
        self.dirty = True


def _ancestor_ids(handle: RunHandle) -> set[int | None]:
    """Run ids of the handle's parents, up to and including a stored parent given by id."""
    ids: set[int | None] = set()
    current: RunHandle | None = handle
    while current is not None:
        if current.parent_run_id is not None:
            ids.add(current.parent_run_id)
        current = current.parent
        if current is not None:
            ids.add(current.run_id)
    return ids


def _depth(handle: RunHandle) -> int:
    depth, parent = 0, handle.parent
    while parent is not None:
        depth, parent = depth + 1, parent.parent
    return depth + (1 if handle.parent_run_id is not None else 0)


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
        self._lock = threading.RLock()

    @property
    def store(self):
        if self._store is None:
            from flowprov.core.store.connection import current_store

            self._store = current_store()
        return self._store

    # -- building ------------------------------------------------------------------------
    def _file_spec(self, item: Any, key: str | None) -> FileSpec:
        from flowprov.core.registry.artifact import Artifact, path_to_uri

        if isinstance(item, Artifact):
            if item.id is None:
                item = item.save()
            return FileSpec(path=item.path or "", content={}, key=item.key, artifact_id=item.id)
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
            elif parent is not None:  # a stored Run, or its id
                handle.parent_run_id = parent if isinstance(parent, int) else parent.id
            if params:
                handle.add_params(params)
            if aux:
                handle.aux.update(aux)
            self.handles.append(handle)
            if reference is not None:
                self._index[key] = handle
            return handle

    def close_run(self, handle: RunHandle, status: str = "completed", finished_at: dt.datetime | None = None) -> None:
        with self._lock:
            handle.status = status
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

    # -- writing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every change since the last flush in one transaction (retried; see module doc)."""
        with self._lock:
            pending = [h for h in self.handles if h.dirty]
            if not pending:
                return
            # Inside a caller's transaction (one transaction per ingest), a failed write cannot be
            # retried here: the caller's transaction is lost, so the error goes straight up.
            retries = 0 if self.store.in_write_transaction() else self.retries
            delay = 0.2
            for attempt in range(retries + 1):
                try:
                    self._write(pending)
                    break
                except Exception as exc:
                    for h in pending:
                        if not h.stored:
                            h.run_id = None  # the insert was rolled back
                    if attempt < retries and _is_retryable(exc):
                        time.sleep(delay)
                        delay = min(delay * 2, 5.0)
                        continue
                    raise RecorderError(
                        f"could not write {len(pending)} run(s) to {self.store.display_url}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                    ) from exc
            for h in pending:
                h.dirty = False
                h.stored = True
            self._closed_since_flush = 0
        from flowprov.core.tracking.listeners import notify

        notify([h.run_id for h in pending if h.run_id is not None], self.store)

    def _write(self, pending: list[RunHandle]) -> None:
        from sqlalchemy import bindparam, insert, select, update

        import flowprov as ln
        from flowprov.core.registry import Artifact, Run, Transform
        from flowprov.core.registry.links import run_input_artifact
        from flowprov.core.registry.managers import insert_ignore
        from flowprov.core.registry.run import status_code
        from flowprov.core.registry.user import current_user_id
        from flowprov.core.registry.writer import allocate_ids
        from flowprov.core.uid import base62

        store = self.store
        with store.transaction() as session:
            # transforms: one batch, deduplicated by key + source
            specs = {id(h.transform): h.transform for h in pending}
            built = [
                Transform(
                    name=sp.name,
                    key=sp.key,
                    version=sp.version,
                    type=sp.type,
                    reference=sp.reference,
                    reference_type=sp.reference_type,
                    description=sp.description,
                    source_code=sp.source_code,
                )
                for sp in specs.values()
            ]
            transform_id = {k: t.id for k, t in zip(specs, ln.save(built), strict=True)}
            # artifacts first: runs refer to their environment and report
            files: list[tuple[RunHandle, str, FileSpec]] = []
            for h in pending:
                files += [(h, "in", f) for f in h.inputs] + [(h, "out", f) for f in h.outputs]
                if h.environment is not None:
                    files.append((h, "env", h.environment))
                if h.report is not None:
                    files.append((h, "report", h.report))
            fresh = [f for _, _, f in files if f.artifact_id is None]
            saved = (
                ln.save([Artifact(f.path, key=f.key, _content=ContentHash(**f.content), run=False) for f in fresh])
                if fresh
                else []
            )
            for f, a in zip(fresh, saved, strict=True):
                f.artifact_id = a.id
            # runs already stored by an earlier recorder: (reference_type, reference, name)
            unknown = [h for h in pending if h.run_id is None and h.reference is not None]
            found: dict[tuple, int] = {}
            refs = sorted({h.reference for h in unknown})
            for start in range(0, len(refs), 5000):
                rows = session.execute(
                    select(Run.id, Run.reference_type, Run.reference, Run.name).where(
                        Run.reference.in_(refs[start : start + 5000])
                    )
                )
                for run_id, rtype, ref, name in rows:
                    found.setdefault((rtype, ref, name), run_id)
            for h in unknown:
                h.run_id = found.get((h.reference_type, h.reference, h.name))
                h.stored = h.run_id is not None
            env_of = {id(h): f.artifact_id for h, role, f in files if role == "env"}
            report_of = {id(h): f.artifact_id for h, role, f in files if role == "report"}
            # new runs: plain rows in one executemany, parents first (handles are in opening order)
            new = [h for h in pending if h.run_id is None]
            if new:
                ids = allocate_ids(session, Run.__table__, len(new))
                for h, new_id in zip(new, ids, strict=True):
                    h.run_id = new_id
                user_id = current_user_id(session, store)
                now = utcnow()
                rows = [
                    {
                        "id": h.run_id,
                        "uid": base62(16),
                        "name": h.name,
                        "started_at": h.started_at or h.opened_at,
                        "finished_at": h.finished_at,
                        "reference": h.reference,
                        "reference_type": h.reference_type,
                        "created_at": now,
                        "aux": dict(h.aux) or None,
                        "params": dict(h.params) or None,
                        "_status_code": status_code(h.status or "started"),
                        "transform_id": transform_id[id(h.transform)],
                        "environment_id": env_of.get(id(h)),
                        "report_id": report_of.get(id(h)),
                        "initiated_by_run_id": h.parent.run_id if h.parent is not None else h.parent_run_id,
                        "created_by_id": user_id,
                        "space_id": 1,
                    }
                    for h in new
                ]
                session.execute(insert(Run.__table__), rows)
            # runs stored before: update only what changed, in one executemany
            stored = [h for h in pending if h.stored]
            if stored:
                table = Run.__table__
                current: dict[int, Any] = {}
                ids = [h.run_id for h in stored]
                for start in range(0, len(ids), 5000):
                    for row in session.execute(
                        select(table).where(table.c.id.in_(ids[start : start + 5000]))
                    ).mappings():
                        current[row["id"]] = row
                changes = []
                for h in stored:
                    row = current[h.run_id]
                    wanted = {
                        "params": {**(row["params"] or {}), **h.params} or None,
                        "aux": {**(row["aux"] or {}), **h.aux} or None,
                        "_status_code": status_code(h.status) if h.status else row["_status_code"],
                        "started_at": h.started_at or row["started_at"],
                        "finished_at": h.finished_at or row["finished_at"],
                        "transform_id": transform_id[id(h.transform)],
                        "environment_id": env_of.get(id(h), row["environment_id"]),
                        "report_id": report_of.get(id(h), row["report_id"]),
                    }
                    if any(wanted[k] != row[k] for k in wanted):
                        changes.append({"b_id": h.run_id, **{f"b_{k}": v for k, v in wanted.items()}})
                if changes:
                    columns = [k.removeprefix("b_") for k in changes[0] if k != "b_id"]
                    stmt = (
                        table.update()
                        .where(table.c.id == bindparam("b_id"))
                        .values({c: bindparam(f"b_{c}") for c in columns})
                    )
                    session.execute(stmt, changes)
            session.flush()
            # inputs and output ownership
            insert_ignore(
                session,
                run_input_artifact,
                [{"run_id": h.run_id, "artifact_id": f.artifact_id} for h, role, f in files if role == "in"],
            )
            owner: dict[int, int] = {}
            again: dict[int, list[int]] = {}
            handle_of = {h.run_id: h for h, _, _ in files}
            inputs_of = {(h.run_id, f.artifact_id) for h, role, f in files if role == "in"}
            # When a step and its workflow both report the same output, the step made it: deepest first.
            for h, role, f in sorted(files, key=lambda item: -_depth(item[0])):
                # an output with the same bytes as one of the run's own inputs is a copy, not something it made
                if role == "out" and (h.run_id, f.artifact_id) not in inputs_of:
                    first = owner.setdefault(f.artifact_id, h.run_id)
                    # two runs of this batch wrote the same bytes (not a workflow and its own step)
                    if first != h.run_id and h.run_id not in _ancestor_ids(handle_of[first]):
                        again.setdefault(h.run_id, []).append(f.artifact_id)
            creators: dict[int, int | None] = {}
            owned = list(owner)
            for start in range(0, len(owned), 5000):
                creators.update(
                    session.execute(
                        select(Artifact.id, Artifact.run_id).where(Artifact.id.in_(owned[start : start + 5000]))
                    ).all()
                )
            for artifact_id, run_id in owner.items():
                if creators.get(artifact_id) is None:
                    session.execute(
                        update(Artifact).where(Artifact.id == artifact_id).values(run_id=run_id),
                        execution_options={"synchronize_session": False},
                    )
                elif creators[artifact_id] != run_id:
                    again.setdefault(run_id, []).append(artifact_id)
            # the first run that wrote some bytes owns them; a later run that wrote the same bytes notes it in aux
            for run_id, artifact_ids in again.items():
                run = session.get(Run, run_id)
                uids = session.execute(select(Artifact.uid).where(Artifact.id.in_(artifact_ids))).scalars().all()
                previous = (run.aux or {}).get("outputs_already_registered", [])
                run.aux = {**(run.aux or {}), "outputs_already_registered": sorted(set(previous) | set(uids))}
            session.flush()
        for h in pending:
            h.inputs, h.outputs = [], []
            h.environment = h.report = None
        for obj in list(store.session.identity_map.values()):
            if isinstance(obj, (Artifact, Run)):
                store.session.expire(obj)

    def spool(self, directory: Path | None = None) -> Path:
        """Save what is buffered as JSON (when the store cannot be reached) and return the file."""
        base = (
            directory
            or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "flowprov" / "spool"
        )
        base.mkdir(parents=True, exist_ok=True)
        path = base / f"spool-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
        data = []
        for h in self.handles:
            if not h.dirty:
                continue
            data.append(
                {
                    "transform": asdict(h.transform),
                    "reference": h.reference,
                    "reference_type": h.reference_type,
                    "name": h.name,
                    "parent": [h.parent.reference_type, h.parent.reference, h.parent.name] if h.parent else None,
                    "parent_run_id": h.parent_run_id,
                    "params": h.params,
                    "aux": h.aux,
                    "status": h.status,
                    "started_at": h.started_at.isoformat() if h.started_at else None,
                    "finished_at": h.finished_at.isoformat() if h.finished_at else None,
                    "inputs": [asdict(f) for f in h.inputs],
                    "outputs": [asdict(f) for f in h.outputs],
                }
            )
        path.write_text(json.dumps({"store": self.store.display_url, "runs": data}, indent=1, default=str))
        return path


def replay_spool(path: Path, store: Any = None) -> int:
    """Write a spool file saved by `Recorder.spool()` to a store; returns the number of runs.

    Files are not hashed again: the spool keeps the hashes taken when the workflow ran.
    """
    data = json.loads(Path(path).read_text())
    rec = Recorder(store)
    handles: dict[tuple, RunHandle] = {}
    for item in data["runs"]:
        spec = TransformSpec(**item["transform"])
        parent = handles.get(tuple(item["parent"])) if item["parent"] else None
        h = rec.open_run(
            spec,
            reference=item["reference"],
            reference_type=item["reference_type"],
            name=item["name"],
            parent=parent,
            started_at=dt.datetime.fromisoformat(item["started_at"]) if item["started_at"] else None,
            status=item["status"],
            aux=item["aux"],
        )
        h.params.update(item["params"])
        h.parent_run_id = item["parent_run_id"]
        h.finished_at = dt.datetime.fromisoformat(item["finished_at"]) if item["finished_at"] else None
        h.inputs = [FileSpec(**f) for f in item["inputs"]]
        h.outputs = [FileSpec(**f) for f in item["outputs"]]
        handles[(item["reference_type"], item["reference"], item["name"])] = h
    rec.flush()
    return len(handles)
