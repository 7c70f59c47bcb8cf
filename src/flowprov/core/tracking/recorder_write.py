"""The Recorder's write path, in named steps (one transaction per flush).

check_pending        the field rules of save(), before anything is written
save_transforms      one batch, deduplicated by key + source
save_artifacts       one batch, deduplicated by content; runs refer to environment and report
find_stored_runs     by (reference_type, reference, name), or by a uid given before storing
                     (under a lock per bucket of references on PostgreSQL: no duplicate runs)
insert_new_runs      plain tuples in one DB-API executemany, parents first
update_stored_runs   only what changed, in one executemany
write_links          inputs (path read), outputs (path and time written), first creators
write_rows           bulk rows (children without files): found by reference (locked), new ones
                     in one executemany with their aux text as given, stored ones updated
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import utcnow
from flowprov.core.hashing import ContentHash

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from flowprov.core.store.connection import Store
    from flowprov.core.tracking.recorder import FileSpec, RunHandle, RunRow, RunRows, TransformSpec

CHUNK = 5000  # ids or references per IN (...) list
FileRole = tuple["RunHandle", str, "FileSpec"]  # (run, "in" | "out" | "env" | "envfile" | "report", file)


def write_pending(
    store: Store, pending: list[RunHandle], batches: list[RunRows] | None = None
) -> tuple[int, list[int]]:
    """Write the handles and bulk rows in one transaction; (how many runs were new to the store,
    the ids of the rows' runs)."""
    from flowprov.core.registry import Artifact, Run

    batches = batches or []
    with store.transaction() as session:
        transform_id = save_transforms([h.transform for h in pending] + [t for b in batches for t in b.transforms])
        files = save_artifacts(pending)
        note_environment_files(session, files)
        find_stored_runs(session, pending)
        roles = {(id(h), role): f.artifact_id for h, role, f in files if role in ("env", "report")}
        new = [h for h in pending if h.run_id is None]
        insert_new_runs(session, store, new, transform_id, roles)
        update_stored_runs(session, [h for h in pending if h.stored], transform_id, roles)
        session.flush()
        write_links(session, files)
        session.flush()
        inserted, row_ids = write_rows(session, store, batches, transform_id)
    for h in pending:
        h.inputs, h.outputs, h.environment_files = [], [], []
        h.environment = h.report = None
    for obj in list(store.session.identity_map.values()):
        if isinstance(obj, (Artifact, Run)):
            store.session.expire(obj)
    return len(new) + inserted, row_ids


# -- validation ----------------------------------------------------------------------------


def check_pending(pending: list[RunHandle]) -> None:
    """Raise one ValidationError naming the run, the field and (for ingests) the file and line."""
    from flowprov.core.registry import Run, Transform
    from flowprov.core.registry.base import field_problem

    run_columns = Run.__table__.c
    transform_columns = Transform.__table__.c
    checked_specs: set[int] = set()  # thousands of steps share a few transforms: check each once
    for h in pending:
        values = {"name": h.name, "reference": h.reference, "reference_type": h.reference_type}
        problems = [(f, field_problem(run_columns[f], v)) for f, v in values.items()]
        problems += [(f, field_problem(run_columns[f], v)) for f, v in (("params", h.params), ("aux", h.aux))]
        if id(h.transform) not in checked_specs:
            checked_specs.add(id(h.transform))
            problems += [
                (f"transform {f}", field_problem(transform_columns[f], v)) for f, v in _spec_values(h.transform)
            ]
        for fieldname, message in problems:
            if message:
                raise ValidationError(f"{_where(h)}run {_label(h)}: field {fieldname!r}: {message}")


def _spec_values(spec: TransformSpec) -> list[tuple[str, Any]]:
    names = ("key", "name", "version", "type", "source_code", "description", "reference", "reference_type")
    return [(n, getattr(spec, n)) for n in names]


def _label(h: RunHandle) -> str:
    shown = h.name if h.name is not None else h.reference
    text = repr(shown if shown is None or len(str(shown)) <= 60 else str(shown)[:60] + "...")
    return f"{text} ({h.reference_type})" if h.reference_type else text


def _where(h: RunHandle) -> str:
    """`trace.txt:12: ` for a task of an ingest (its launch knows the file), else nothing."""
    line = h.aux.get("trace_line")
    file = h.parent.aux.get("trace_file") if h.parent is not None else h.aux.get("trace_file")
    return f"{file}:{line}: " if file and line else (f"{file}: " if file else "")


# -- writing -------------------------------------------------------------------------------


def save_transforms(all_specs: list[TransformSpec]) -> dict[int, int]:
    """id(spec) -> transform id; a spec already stored (same key and source) is reused."""
    from flowprov.core.registry import Transform, save
    from flowprov.core.registry.construction import no_construction_lookup

    specs = {id(sp): sp for sp in all_specs}
    with no_construction_lookup():  # the Recorder's store may not be the current one
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
    return {k: t.id for k, t in zip(specs, save(built), strict=True)}


def save_artifacts(pending: list[RunHandle]) -> list[FileRole]:
    """Every file of the pending runs, each with its artifact id (new bytes saved in one batch)."""
    from flowprov.core.registry import Artifact, save

    files: list[FileRole] = []
    for h in pending:
        files += [(h, "in", f) for f in h.inputs] + [(h, "out", f) for f in h.outputs]
        if h.environment is not None:
            files.append((h, "env", h.environment))
        files += [(h, "envfile", f) for f in h.environment_files]
        if h.report is not None:
            files.append((h, "report", h.report))
    fresh = [f for _, _, f in files if f.artifact_id is None]
    if fresh:
        built = [Artifact(f.path, key=f.key, _content=ContentHash(**f.content), run=False) for f in fresh]
        for f, a in zip(fresh, save(built), strict=True):
            f.artifact_id = a.id
    return files


def note_environment_files(session: Session, files: list[FileRole]) -> None:
    """A run's lock files are named by artifact uid in its `aux["environment_files"]`."""
    from sqlalchemy import select

    from flowprov.core.registry import Artifact

    lock_files = [(h, f) for h, role, f in files if role == "envfile"]
    if not lock_files:
        return
    ids = sorted({f.artifact_id for _, f in lock_files if f.artifact_id is not None})
    uid_of = {row[0]: row[1] for row in session.execute(select(Artifact.id, Artifact.uid).where(Artifact.id.in_(ids)))}
    for h in {id(h): h for h, _ in lock_files}.values():
        h.aux["environment_files"] = [uid_of[f.artifact_id] for f in h.environment_files]


def find_stored_runs(session: Session, pending: list[RunHandle]) -> None:
    """Runs an earlier recorder stored: by (reference_type, reference, name), else by given uid."""
    from sqlalchemy import select

    from flowprov.core.registry import Run

    unknown = [h for h in pending if h.run_id is None and (h.reference is not None or h.uid is not None)]
    by_reference: dict[tuple[Any, ...], int] = {}
    refs = sorted({h.reference for h in unknown if h.reference is not None})
    lock_references(session, [(h.reference_type, h.reference) for h in unknown if h.reference is not None])
    for start in range(0, len(refs), CHUNK):
        query = select(Run.id, Run.reference_type, Run.reference, Run.name)
        for run_id, rtype, ref, name in session.execute(query.where(Run.reference.in_(refs[start : start + CHUNK]))):
            by_reference.setdefault((rtype, ref, name), run_id)
    uids = sorted({h.uid for h in unknown if h.reference is None and h.uid is not None})
    by_uid: dict[str, int] = {}
    for start in range(0, len(uids), CHUNK):
        rows = session.execute(select(Run.uid, Run.id).where(Run.uid.in_(uids[start : start + CHUNK])))
        by_uid.update((uid, run_id) for uid, run_id in rows)
    for h in unknown:
        if h.reference is not None:
            h.run_id = by_reference.get((h.reference_type, h.reference, h.name))
        else:
            h.run_id = by_uid.get(h.uid)  # type: ignore[arg-type]
        h.stored = h.run_id is not None


REFERENCE_LOCKS = 64  # PostgreSQL advisory locks a flush takes at most (buckets of references)


def lock_references(session: Session, references: list[tuple[str | None, str]]) -> None:
    """Serialise writers of the same external runs until the transaction ends.

    SQLite needs nothing (BEGIN IMMEDIATE: one writer at a time, so "look up, then insert" is
    atomic). PostgreSQL's READ COMMITTED would let two flushes (two ingests of one trace, chunk by
    chunk) both find no run and both insert it: a transaction-scoped advisory lock per bucket of
    references, taken in sorted order (no cycles), makes the second wait and then find the first's.
    """
    if not references or session.get_bind().dialect.name != "postgresql":
        return
    import zlib

    from sqlalchemy import text

    buckets = sorted({zlib.crc32(f"{rtype}\0{ref}".encode()) % REFERENCE_LOCKS for rtype, ref in references})
    session.execute(
        text("SELECT pg_advisory_xact_lock(:space, b) FROM unnest(CAST(:buckets AS integer[])) AS b"),
        {"space": 0x666C6F77, "buckets": buckets},
    )


RUN_COLUMNS = (
    "id",
    "uid",
    "name",
    "started_at",
    "finished_at",
    "reference",
    "reference_type",
    "created_at",
    "aux",
    "params",
    "_status_code",
    "transform_id",
    "environment_id",
    "report_id",
    "initiated_by_run_id",
    "created_by_id",
    "space_id",
)


def insert_new_runs(
    session: Session, store: Store, new: list[RunHandle], transform_id: dict[int, int], roles: dict[Any, Any]
) -> None:
    """Plain tuples in one executemany (no per-row SQLAlchemy parameter processing)."""
    from flowprov.core.registry import Run
    from flowprov.core.registry.run import status_code
    from flowprov.core.registry.user import current_user_id
    from flowprov.core.registry.writer import allocate_ids
    from flowprov.core.uid import base62

    if not new:
        return
    for h, new_id in zip(new, allocate_ids(session, Run.__table__, len(new)), strict=True):
        h.run_id = new_id
    user_id, now = current_user_id(session, store), utcnow()
    codes: dict[str | None, int] = {}
    rows = []
    for h in new:
        code = codes.get(h.status)
        if code is None:
            code = codes[h.status] = status_code(h.status or "started")
        parent_id = h.parent.run_id if h.parent is not None else h.parent_run_id
        rows.append(
            (
                h.run_id,
                h.uid or base62(16),
                h.name,
                h.started_at or h.opened_at,
                h.finished_at,
                h.reference,
                h.reference_type,
                now,
                dict(h.aux) or None,
                dict(h.params) or None,
                code,
                transform_id[id(h.transform)],
                roles.get((id(h), "env")),
                roles.get((id(h), "report")),
                parent_id,
                user_id,
                1,
            )
        )
    bulk_insert(session, Run.__table__, RUN_COLUMNS, rows)


def bulk_insert(
    session: Session, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]], json_text: tuple[str, ...] = ()
) -> None:
    """INSERT rows (tuples in `columns` order) with one DB-API executemany; each value goes through
    its column type's bind processor (JSON, UTC datetimes) exactly as SQLAlchemy would apply it,
    except the `json_text` columns, whose values are JSON text already (`recorder.aux_text`)."""
    conn = session.connection()
    dialect = conn.dialect
    processors = [
        None if c in json_text else table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    # a value repeated from the row before (the same `now`, None) is processed once
    last_in: list[Any] = [object()] * len(columns)
    last_out: list[Any] = [None] * len(columns)
    prepared = []
    for row in rows:
        values = list(row)
        for i, process in active:
            value = values[i]
            if value is last_in[i]:
                values[i] = last_out[i]
            else:
                last_in[i], values[i] = value, process(value)
                last_out[i] = values[i]
        prepared.append(tuple(values))
    quote = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    cast = "CAST(%s AS jsonb)" if dialect.name == "postgresql" else mark
    marks = [cast if c in json_text else mark for c in columns]
    sql = (
        f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "
        f"VALUES ({', '.join(marks)})"
    )
    conn.exec_driver_sql(sql, prepared)


def update_stored_runs(
    session: Session, stored: list[RunHandle], transform_id: dict[int, int], roles: dict[Any, Any]
) -> None:
    from sqlalchemy import bindparam, select

    from flowprov.core.registry import Run
    from flowprov.core.registry.run import status_code

    if not stored:
        return
    table = Run.__table__
    current: dict[int, Any] = {}
    ids = [h.run_id for h in stored]
    for start in range(0, len(ids), CHUNK):
        for row in session.execute(select(table).where(table.c.id.in_(ids[start : start + CHUNK]))).mappings():
            current[row["id"]] = row
    changes = []
    for h in stored:
        row = current[h.run_id]  # type: ignore[index]
        wanted = {
            "params": {**(row["params"] or {}), **h.params} or None,
            "aux": _merged_aux(row["aux"], h),
            "_status_code": status_code(h.status) if h.status else row["_status_code"],
            "started_at": h.started_at or row["started_at"],
            "finished_at": h.finished_at or row["finished_at"],
            "transform_id": transform_id[id(h.transform)],
            "environment_id": roles.get((id(h), "env"), row["environment_id"]),
            "report_id": roles.get((id(h), "report"), row["report_id"]),
            "branch_id": 1,  # recording a trashed run again takes it out of the trash (design.md)
        }
        if any(wanted[k] != row[k] for k in wanted):
            changes.append({"b_id": h.run_id, **{f"b_{k}": v for k, v in wanted.items()}})
    if changes:
        columns = [k.removeprefix("b_") for k in changes[0] if k != "b_id"]
        stmt = table.update().where(table.c.id == bindparam("b_id")).values({c: bindparam(f"b_{c}") for c in columns})
        session.execute(stmt, changes)


def _merged_aux(stored: dict[str, Any] | None, h: RunHandle) -> dict[str, Any] | None:
    merged = {**(stored or {}), **h.aux}
    for key in h.aux_dropped:
        merged.pop(key, None)
    return merged or None


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


def write_links(session: Session, files: list[FileRole]) -> None:
    """Input links (with the path read), output links (path and time written) and first creators."""
    from sqlalchemy import select, update

    from flowprov.core.registry import Artifact
    from flowprov.core.registry.links import run_input_artifact, run_output_artifact
    from flowprov.core.registry.managers import insert_ignore

    insert_ignore(
        session,
        run_input_artifact,
        [{"run_id": h.run_id, "artifact_id": f.artifact_id, "path": f.path} for h, role, f in files if role == "in"],
    )
    outputs = [(h, f) for h, role, f in files if role == "out"]
    # When a step and its workflow both report the same file, the step wrote it: deepest first.
    outputs.sort(key=lambda item: -_depth(item[0]))
    inputs_of = {(h.run_id, f.artifact_id) for h, role, f in files if role == "in"}
    written: dict[tuple[int | None, str], RunHandle] = {}
    owner: dict[int, int] = {}
    # written at the run's end; empty when no end is known (never the moment of recording)
    rows: list[dict[str, Any]] = []
    for h, f in outputs:
        deeper = written.get((f.artifact_id, f.path))
        if deeper is not None and h.run_id in _ancestor_ids(deeper):
            continue  # the workflow's own step already wrote this file here
        written.setdefault((f.artifact_id, f.path), h)
        rows.append({"run_id": h.run_id, "artifact_id": f.artifact_id, "path": f.path, "written_at": h.finished_at})
        # an output with the same bytes as one of the run's own inputs is a copy: it does not create them
        if (h.run_id, f.artifact_id) not in inputs_of:
            owner.setdefault(f.artifact_id, h.run_id)  # type: ignore[arg-type]
    insert_ignore(session, run_output_artifact, rows)
    owned = list(owner)
    unowned: set[int] = set()
    for start in range(0, len(owned), 5000):
        unowned.update(
            session.execute(
                select(Artifact.id).where(Artifact.id.in_(owned[start : start + 5000]), Artifact.run_id.is_(None))
            ).scalars()
        )
    # Artifact.run is the first creator: set only where no run created the bytes before
    for artifact_id in sorted(unowned):
        session.execute(
            update(Artifact).where(Artifact.id == artifact_id).values(run_id=owner[artifact_id]),
            execution_options={"synchronize_session": False},
        )


# -- bulk rows -----------------------------------------------------------------------------


def write_rows(
    session: Session, store: Store, batches: list[RunRows], transform_id: dict[int, int]
) -> tuple[int, list[int]]:
    """The bulk rows of a flush (their parents are stored by now); (new runs, every row's run id)."""
    inserted, ids = 0, []
    for batch in batches:
        rows = _merged_rows(batch.rows)
        stored = _stored_rows(session, batch.reference_type, rows)
        fresh = [r for key, r in rows.items() if key not in stored]
        again = [(stored[key], r) for key, r in rows.items() if key in stored]
        ids += _insert_rows(session, store, batch, fresh, transform_id)
        inserted += len(fresh)
        _update_rows(session, batch, again, transform_id)
        ids += [run_id for run_id, _ in again]
    return inserted, ids


def _merged_rows(rows: list[RunRow]) -> dict[tuple[str, str | None], RunRow]:
    """(reference, name) -> row; a run given twice is one run, as `open_run` makes it (later
    values win, aux merged, a time only where the later row gives one)."""
    import json

    merged: dict[tuple[str, str | None], RunRow] = {}
    for row in rows:
        key = (row[1], row[2])
        earlier = merged.get(key)
        if earlier is not None:
            aux = {**json.loads(earlier[6]), **json.loads(row[6])}
            row = (*row[:4], row[4] or earlier[4], row[5] or earlier[5], json.dumps(aux, ensure_ascii=False))
        merged[key] = row
    return merged


def _stored_rows(
    session: Session, reference_type: str, rows: dict[tuple[str, str | None], RunRow]
) -> dict[tuple[str, str | None], int]:
    from sqlalchemy import select

    from flowprov.core.registry import Run

    refs = sorted({ref for ref, _ in rows})
    lock_references(session, [(reference_type, ref) for ref in refs])
    found: dict[tuple[str, str | None], int] = {}
    query = select(Run.id, Run.reference, Run.name).where(Run.reference_type == reference_type)
    for start in range(0, len(refs), CHUNK):
        for run_id, ref, name in session.execute(query.where(Run.reference.in_(refs[start : start + CHUNK]))):
            found.setdefault((ref, name), run_id)
    return found


def _insert_rows(
    session: Session, store: Store, batch: RunRows, fresh: list[RunRow], transform_id: dict[int, int]
) -> list[int]:
    from flowprov.core.registry import Run
    from flowprov.core.registry.run import STATUS_CODES
    from flowprov.core.registry.user import current_user_id
    from flowprov.core.registry.writer import allocate_ids
    from flowprov.core.uid import base62_many

    if not fresh:
        return []
    ids = allocate_ids(session, Run.__table__, len(fresh))
    uids = base62_many(len(fresh), 16)
    user_id, now, parent_id = current_user_id(session, store), utcnow(), batch.parent.run_id
    transforms = [transform_id[id(t)] for t in batch.transforms]
    rows = [
        (
            new_id,
            uid,
            name,
            started_at,
            finished_at,
            reference,
            batch.reference_type,
            now,
            aux,
            None,
            STATUS_CODES[status],
            transforms[index],
            None,
            None,
            parent_id,
            user_id,
            1,
        )
        for new_id, uid, (index, reference, name, status, started_at, finished_at, aux) in zip(
            ids, uids, fresh, strict=True
        )
    ]
    bulk_insert(session, Run.__table__, RUN_COLUMNS, rows, json_text=("aux",))
    return ids


def _update_rows(
    session: Session, batch: RunRows, again: list[tuple[int, RunRow]], transform_id: dict[int, int]
) -> None:
    """Rows of runs already stored (a trace ingested again): merged as `open_run` merges."""
    import json

    from flowprov.core.tracking.recorder import RunHandle

    recorder = batch.parent.recorder
    handles = []
    for run_id, (index, reference, name, status, started_at, finished_at, aux) in again:
        handle = RunHandle(recorder, batch.transforms[index], reference, batch.reference_type, name, status=status)
        handle.started_at, handle.finished_at, handle.aux = started_at, finished_at, json.loads(aux)
        handle.run_id, handle.stored, handle.opened_at = run_id, True, None
        handles.append(handle)
    update_stored_runs(session, handles, transform_id, {})
