"""Turn a Nextflow launch (trace file + the metadata beside it) into provenance records.

One Run per launch (reference = session id, name = run name), one child Run per task
(reference = the full task hash when the work dir shows it, else the trace's `ab/cdef12`), a
pipeline Transform and one step Transform per process, written through the Recorder.

The ingest is four steps, one module each: **discovery** (`discovery.py`: which files belong to
a launch), **identity** (`identity.py`: a `LaunchIdentity` resolved once), **reading**
(`tasks.py`: trace rows → task facts and the launch's tally) and **writing** (here, `LaunchWriter`).

Writing shares the store: the trace is parsed once, every row checked and turned into the row it
will be written as (a bad row anywhere writes nothing; the chunks wait in a temporary file), then
written in chunks of `CHUNK` tasks, **one transaction per chunk**, so no writer waits on an
ingest for more than one chunk (a fraction of a second) however long the trace is, and memory
stays flat. Tasks without files go to the store as the Recorder's bulk rows (no handle each);
tasks with a work dir, lineage-store files or an nf-core environment go through a RunHandle.
Until its last chunk the launch carries `aux["ingest_incomplete"]`: an ingest that was killed
halfway is recognisable, and ingesting the same trace again completes it
exactly (every run is found by its reference and updated, none added twice) and clears the mark.

When the store cannot be written, the rest of the launch is still read and the whole buffer is
spooled (`adapter_kit.report_failure`: one line naming the spool file); `IngestResult.spooled`
is set and `flowprov spool replay` writes it later.
"""

from __future__ import annotations

import datetime as dt
import pickle
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowprov.core.tracking.adapter_kit import ReferenceType, redact_argv, report_failure, store_failures
from flowprov.core.tracking.recorder import Recorder, RunHandle, RunRow, RunRows, TransformSpec
from flowprov.integrations.nextflow.discovery import (
    IngestError,
    LaunchFiles,
    default_work_dir,
    find_launch_files,
    load_cache_index,
    open_lineage_store,
)
from flowprov.integrations.nextflow.history import HistoryEntry
from flowprov.integrations.nextflow.identity import LaunchIdentity, check_session_id, resolve_identity
from flowprov.integrations.nextflow.lineage_store import LineageStore
from flowprov.integrations.nextflow.software_versions import ProcessEnvironments, read_versions
from flowprov.integrations.nextflow.tasks import (
    TASK_STATUS,
    LaunchTally,
    full_hash,
    task_aux_of,
    task_end_note,
    task_finished_at,
)
from flowprov.integrations.nextflow.trace import TaskRecord, TraceReader
from flowprov.integrations.nextflow.workdir import MAX_SCRIPT, find_work_dir, full_hash_of, read_work_dir

__all__ = [
    "CHUNK",
    "TASK_STATUS",
    "IngestError",
    "IngestResult",
    "LaunchFiles",
    "find_launch_files",
    "ingest",
    "ingest_trace",
    "print_summary",
    "task_aux_of",
    "task_end_note",
    "task_finished_at",
]

CHUNK = 5000  # tasks per transaction: how long another writer may wait on an ingest
INGEST_INCOMPLETE = "ingest_incomplete"  # aux key of a launch whose tasks are still being written


@dataclass
class IngestResult:
    """What an ingest found and wrote (also for a dry run, where `run` is None)."""

    run: Any = None
    run_name: str | None = None
    session_id: str | None = None
    pipeline: str | None = None
    identity_source: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None
    tasks: int = 0
    executed: int = 0
    cached: int = 0
    cached_linked: int = 0
    failed: int = 0
    retried: int = 0
    duplicates: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    artifacts: int = 0
    warnings: list[str] = field(default_factory=list)
    spooled: str | None = None  # the spool file, when the store could not be written

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "run"}
        out["run_uid"] = self.run.uid if self.run is not None else None
        return out

    def take_tally(self, tally: LaunchTally, duplicates: int) -> None:
        self.tasks, self.executed, self.cached = tally.tasks, tally.executed, tally.cached
        self.failed, self.retried = tally.failed, tally.retried
        self.statuses, self.duplicates = dict(tally.statuses), duplicates


# -- ingest ------------------------------------------------------------------------------------


def ingest(
    target: str | Path,
    *,
    history: str | Path | None = None,
    log: str | Path | None = None,
    report: str | Path | None = None,
    params_file: str | Path | None = None,
    run_name: str | None = None,
    session_id: str | None = None,
    pipeline: str | None = None,
    timezone: str | None = None,
    work_dir: str | Path | None = None,
    outdir: str | Path | None = None,
    store: Any = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    store_error: BaseException | None = None,
    recorder: Recorder | None = None,
) -> list[IngestResult]:
    """Ingest every launch found at `target` (a trace file or a launch directory).

    `store_error`: the store could not even be opened (the CLI passes why); every launch is then
    read all the same and spooled (see module doc). `recorder`: write through this Recorder
    (the wrapper's live one, when it holds what the store refused: spooled together)."""
    check_session_id(session_id)
    files = find_launch_files(Path(target), _opt(history), _opt(log), _opt(report), _opt(params_file))
    files.work_dir = _opt(work_dir) or default_work_dir(Path(target))
    files.outdir = _opt(outdir)
    identity_options = {"run_name": run_name, "session_id": session_id, "pipeline": pipeline, "timezone": timezone}
    writing = None if dry_run else (recorder, store, store_error)
    return [ingest_one(trace, files, identity_options, writing, progress) for trace in files.traces]


def ingest_trace(path: str | Path, **options: Any) -> Any:
    """Ingest one launch and return its Run (see `ingest` for the options)."""
    results = ingest(path, **options)
    return results[0].run


def _opt(value: str | Path | None) -> Path | None:
    return Path(value) if value is not None else None


def ingest_one(
    trace: Path,
    files: LaunchFiles,
    identity_options: dict[str, Any],
    writing: tuple[Recorder | None, Any, BaseException | None] | None,  # (recorder, store, why none); None: dry run
    progress: Callable[[int, int], None] | None,
) -> IngestResult:
    lineage = open_lineage_store(files)
    identity = resolve_identity(trace, files, lineage, **identity_options)
    if identity.report is None and files.report_found:
        files = files.without_report()
    result = IngestResult(
        run_name=identity.run_name,
        session_id=identity.session_id,
        pipeline=identity.pipeline,
        identity_source=identity.sources,
        timezone=identity.timezone,
        warnings=list(identity.warnings),
    )
    reader = TraceReader(trace, identity.tz)
    tally = LaunchTally(report_tasks=identity.report_tasks)
    writer = _launch_writer(writing, trace, identity, files, lineage, result)
    with TaskChunks() as chunks:
        _read_tasks(reader, tally, writer, chunks)  # a bad row anywhere fails here, before any write
        result.take_tally(tally, reader.duplicates)
        if writer is not None:
            written = 0
            for chunk in chunks:
                writer.write_tasks(chunk)
                written += len(chunk)
                if progress:
                    progress(written, result.tasks)
            writer.close_launch(tally, reader.fields)
    if progress:
        progress(result.tasks, result.tasks)
    return result


def _launch_writer(
    writing: tuple[Recorder | None, Any, BaseException | None] | None,
    trace: Path,
    identity: LaunchIdentity,
    files: LaunchFiles,
    lineage: LineageStore | None,
    result: IngestResult,
) -> LaunchWriter | None:
    if writing is None:
        return None
    recorder, store, store_error = writing
    rec = recorder or Recorder(store)
    rec.flush_every = 10**12  # this ingest flushes chunk by chunk
    writer = LaunchWriter(rec, trace, identity, files, lineage, result)
    writer.failure = store_error
    return writer


def _read_tasks(reader: TraceReader, tally: LaunchTally, writer: LaunchWriter | None, chunks: TaskChunks) -> None:
    """The one parse of the trace: every record checked, counted and (when writing) turned into
    its validated row, in chunks of `CHUNK` tasks."""
    chunk: list[Task] = []
    for record in reader.records():
        retry_of = tally.observe(record)
        if writer is not None:
            chunk.append(writer.prepare(record, retry_of))
            if len(chunk) >= CHUNK:
                chunks.add(chunk)
                chunk = []
    chunks.add(chunk)


# A task ready to write: its validated row, whether it is CACHED, and for a task with files (work
# dir, lineage store, environment) what writing it through a RunHandle needs, else None.
Task = tuple[RunRow, bool, "tuple[TaskRecord, Path | None, dict[str, Any], Path | None] | None"]


class TaskChunks:
    """The chunks of one launch between reading and writing: the first in memory, the rest pickled
    to a temporary file, so the trace is parsed once and memory stays flat however long it is."""

    def __init__(self) -> None:
        self.first: list[Task] | None = None
        self.spill: Any = None
        self.count = 0

    def __enter__(self) -> TaskChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.spill is not None:
            self.spill.close()

    def add(self, chunk: list[Task]) -> None:
        if not chunk:
            return
        if self.first is None:
            self.first = chunk
            return
        if self.spill is None:
            import tempfile

            self.spill = tempfile.TemporaryFile()
        pickle.dump(chunk, self.spill, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self) -> Iterator[list[Task]]:
        if self.first is not None:
            yield self.first
        if self.spill is not None:
            self.spill.seek(0)
            for _ in range(self.count):
                yield pickle.load(self.spill)


# -- writing -----------------------------------------------------------------------------------


class LaunchWriter:
    """Writes one launch through the Recorder, chunk by chunk (see module doc): tasks without
    files as bulk rows, the others through a RunHandle each."""

    def __init__(
        self,
        rec: Recorder,
        trace: Path,
        identity: LaunchIdentity,
        files: LaunchFiles,
        lineage: LineageStore | None,
        result: IngestResult,
    ) -> None:
        self.rec, self.trace, self.identity, self.files = rec, trace, identity, files
        self.lineage, self.result = lineage, result
        self.step_specs: dict[str, int] = {}  # process -> index in self.specs
        self.specs: list[TransformSpec] = []
        self.cache_index = load_cache_index(files, identity.session_id, identity.run_name)
        self.versions = (
            ProcessEnvironments(read_versions(files.versions_file), files.versions_file)
            if files.versions_file
            else None
        )
        self.published_owner: dict[str, list[Writer]] = {}  # output hash -> the tasks that wrote those bytes
        self.cached_uids: list[str] = []
        self.failure: BaseException | None = None  # the store failed: the rest is buffered, then spooled
        self.where = f"{trace.resolve()}:"
        self.launch = self._open_launch()

    def _open_launch(self) -> RunHandle:
        ident = self.identity
        aux = launch_aux(ident, self.trace)
        aux[INGEST_INCOMPLETE] = "the tasks of this launch are being written; ingest the trace again if this stays"
        spec = TransformSpec(key=ident.pipeline, name=ident.pipeline, type="pipeline", version=ident.revision)
        launch = self.rec.open_run(
            spec,
            reference=ident.session_id,
            reference_type=ident.reference_type,
            name=ident.run_name,
            params=ident.params,
            started_at=ident.started,
            status="started",
            aux=aux,
        )
        launch.opened_at = None  # a start comes from history or the first task, never from now
        return launch

    # -- tasks ---------------------------------------------------------------------------
    def prepare(self, record: TaskRecord, retry_of: str | None) -> Task:
        """A task as it will be written (validated now, so a bad value writes nothing)."""
        reference = self._reference(record)
        work = find_work_dir(
            record.workdir, record.hash, reference if len(reference) == 32 else None, self.files.work_dir
        )
        if work is not None and len(reference) != 32:
            reference = full_hash_of(work) or reference  # found by its short hash: the directory names the full one
        process = record.process_name or "unknown"
        task_aux = task_aux_of(record)
        task_aux["trace_line"] = record.line
        if retry_of:
            task_aux["retry_of"] = retry_of
        finished = task_finished_at(record)
        task_aux.update(task_end_note(record, finished))
        status = TASK_STATUS.get(record.status or "", "started")
        row = self.rec.run_row(
            self._step_index(process),
            reference,
            record.name,
            status,
            record.start or record.submit,
            finished,
            task_aux,
            where=f"{self.where}{record.line}: ",
        )
        environment = self.versions.for_task(process, record.metrics.get("container")) if self.versions else None
        cached = record.status == "CACHED"
        with_files = not cached and (
            work is not None
            or (self.lineage is not None and len(reference) == 32 and self.lineage.task(reference) is not None)
        )
        if environment is None and not with_files:
            return row, cached, None
        return row, cached, (record, work, task_aux, environment)

    def write_tasks(self, chunk: list[Task]) -> None:
        """One chunk of task runs (with the launch, the first time) in one transaction."""
        linked = self._earlier_runs_of_cached([row[1] for row, cached, _ in chunk if cached])
        rows = []
        for row, cached, with_files in chunk:
            if cached and row[1] in linked:
                self.result.cached_linked += 1
                self.cached_uids.append(linked[row[1]])
            elif with_files is None:
                rows.append(row)
            else:
                self._write_task(row, *with_files)
        self.rec.add_rows(RunRows(self.launch, ReferenceType.NEXTFLOW_TASK, self.specs, rows))
        self._flush()

    def _reference(self, record: TaskRecord) -> str:
        """The full task hash (work dir path, cache index, lineage store), else the short one."""
        full = full_hash(record) or (self.cache_index.get(record.hash, (None,))[0] if record.hash else None)
        if full is None and self.lineage is not None and record.hash:
            full = self.lineage.full_hash(record.hash)
        return full or record.hash or f"task:{record.task_id}"

    def _earlier_runs_of_cached(self, references: list[str]) -> dict[str, str]:
        """reference -> uid of the run, in an earlier launch, of each cached task here."""
        if not references or self.failure is not None:
            return {}
        ident = self.identity
        try:
            return self.rec.find_runs(
                ReferenceType.NEXTFLOW_TASK, references, not_under=(ident.session_id, ident.run_name)
            )
        except store_failures() as exc:
            self.failure = exc
            return {}

    def _step_index(self, process: str) -> int:
        index = self.step_specs.get(process)
        if index is None:
            index = self.step_specs[process] = len(self.specs)
            self.specs.append(
                TransformSpec(
                    key=f"{self.identity.pipeline}#{process}", name=process, type="step", version=self.identity.revision
                )
            )
        return index

    def _write_task(
        self, row: RunRow, record: TaskRecord, work: Path | None, aux: dict[str, Any], environment: Path | None
    ) -> None:
        """A task with files or an environment, through a RunHandle."""
        index, reference, name, status, started_at, finished_at, _ = row
        spec = self.specs[index]
        handle = self.rec.open_run(
            spec,
            reference=reference,
            reference_type=ReferenceType.NEXTFLOW_TASK,
            name=name,
            parent=self.launch,
            started_at=started_at,
            status=status,
            aux=aux,
        )
        handle.opened_at = None  # a row without submit/start keeps an empty start
        handle.finished_at = finished_at
        if environment is not None:
            handle.set_environment(environment)
        if record.status == "CACHED":
            return
        task_of = (spec, reference, name)
        if work is not None:
            _record_work_dir(handle, work, task_of, self.published_owner, self.result)
        if self.lineage is not None and len(reference) == 32:
            _record_lineage_task(handle, self.lineage, task_of, self.published_owner, self.result)

    def _flush(self) -> None:
        """Write what is buffered; once the store has failed, keep buffering (spooled at the end)."""
        if self.failure is not None:
            return
        try:
            self.rec.flush()
        except store_failures() as exc:
            self.failure = exc
            return
        self.rec.forget(keep=[self.launch])

    # -- the launch ----------------------------------------------------------------------
    def close_launch(self, tally: LaunchTally, trace_fields: list[str]) -> None:
        """The launch's counts, status, end, report and environment, and its mark cleared."""
        result, launch, entry = self.result, self.launch, self.identity.history
        summary = {
            "tasks": result.tasks,
            "executed": result.executed,
            "cached": result.cached,
            "cached_linked": result.cached_linked,
            "failed": result.failed,
            "retried": result.retried,
            "duplicate_rows": result.duplicates,
        }
        launch.update_aux(
            {"task_counts": summary, **({"cached_task_runs": self.cached_uids} if self.cached_uids else {})}
        )
        launch.started_at = self.identity.started or tally.first_submit or launch.started_at
        if self.files.outdir is not None:
            _record_published(self.rec, launch, self.files.outdir, self.published_owner, result)
        self.rec.close_run(
            launch,
            tally.launch_status(entry.status if entry else None, trace_fields),
            finished_at=_finished(entry, self.identity.tz, tally.last_complete),
            unknown_end="neither .nextflow/history nor any task of the trace gives an end time",
        )
        if self.files.report:
            launch.set_report(self.files.report)
            result.artifacts += 1
        launch_environment = self.versions.launch_file() if self.versions else None
        if launch_environment is not None:
            launch.set_environment(launch_environment)
        launch.drop_aux(INGEST_INCOMPLETE)
        self._flush()
        if self.failure is not None:
            spooled = report_failure(
                f"Nextflow launch {self.identity.run_name or self.identity.session_id}", self.failure, self.rec
            )
            result.spooled = str(spooled) if spooled else None
            return
        result.run = launch.run


def launch_aux(identity: LaunchIdentity, trace: Path) -> dict[str, Any]:
    """The launch run's aux: where the trace is, its time zone, identity sources, command, revision."""
    aux: dict[str, Any] = {
        "trace_file": str(trace.resolve()),
        "trace_timezone": identity.timezone,
        "identity_source": identity.sources,
    }
    if identity.command:
        try:
            aux["command"] = " ".join(shlex.quote(w) for w in redact_argv(shlex.split(identity.command)))
        except ValueError:
            aux["command"] = identity.command
    if identity.revision:
        aux["revision"] = identity.revision
    return aux


TaskOf = tuple[Any, str, "str | None"]  # (step spec, task reference, task name)
Writer = tuple[Any, str, "str | None", str]  # (step spec, task reference, task name, file name written)


def _record_work_dir(
    handle: Any, work: Path, task_of: TaskOf, published_owner: dict[str, list[Writer]], result: IngestResult
) -> None:
    """Inputs staged into the task's work dir, the files it wrote, its script and metrics."""
    info = read_work_dir(work)
    if info.script:
        handle.aux["command_sh"] = info.script
    for key, value in info.metrics.items():
        handle.aux.setdefault(key, value)
    if info.exit_code is not None:
        handle.aux.setdefault("exit", info.exit_code)
    handle.aux["workdir"] = str(work)
    for src, staged_name in info.staged:
        source = Path(src)
        if not source.is_absolute():
            source = (work / staged_name).resolve()
        if source.exists():
            handle.add_input(source)
            result.artifacts += 1
    for path in info.outputs:
        spec_file = handle.add_output(path)
        _note_writer(published_owner, spec_file.content["hash"], (*task_of, Path(path).name))
        result.artifacts += 1


def _record_lineage_task(
    handle: Any, lineage: LineageStore, task_of: TaskOf, published_owner: dict[str, list[Writer]], result: IngestResult
) -> None:
    """What the lineage store knows about a task: its script, and its files when they are here."""
    task = lineage.task(task_of[1])
    if task is None:
        return
    if task.get("script"):
        handle.aux.setdefault("script", str(task["script"])[:MAX_SCRIPT])
    for path in lineage.task_inputs(task):
        if path.exists():
            handle.add_input(path)
            result.artifacts += 1
    for path in lineage.task_outputs(task_of[1]):
        if path.exists():
            written = handle.add_output(path).content["hash"]
            _note_writer(published_owner, written, (*task_of, Path(path).name))
            result.artifacts += 1


def _note_writer(owners: dict[str, list[Writer]], content_hash: str, writer: Writer) -> None:
    known = owners.setdefault(content_hash, [])
    if writer not in known:
        known.append(writer)


def _publisher(writers: list[Writer], published: Path) -> tuple[Writer | None, list[Writer]]:
    """The task a published copy came from: the one that wrote the same bytes under the same file
    name (or the only one with those bytes, for a renamed copy); else None and the candidates."""
    named = [w for w in writers if w[3] == published.name]
    candidates = named or writers
    if len(candidates) == 1:
        return candidates[0], []
    return None, candidates


def _record_published(
    rec: Any, launch: Any, outdir: Path, published_owner: dict[str, list[Writer]], result: IngestResult
) -> None:
    """Files under --outdir: linked to the task whose work-dir file has the same bytes and name
    (their path moves to the published location); files no single task matches become outputs
    of the launch, and the launch's aux["published_ambiguous"] names the candidate tasks."""
    from flowprov.core.hashing import hash_path

    if not outdir.is_dir():
        raise IngestError(f"--outdir {outdir}: not a directory")
    ambiguous: dict[str, list[str]] = {}
    for path in sorted(p for p in outdir.rglob("*") if p.is_file() and not p.is_symlink()):
        owner, candidates = _publisher(published_owner.get(hash_path(path).hash, []), path)
        if owner is None:
            launch.add_output(path)
            if candidates:
                ambiguous[str(path)] = [w[1] for w in candidates]
        else:
            spec, reference, name, _ = owner
            task = rec.open_run(
                spec,
                reference=reference,
                reference_type=ReferenceType.NEXTFLOW_TASK,
                name=name,
                parent=launch,
                status=None,
            )
            task.add_output(path)
        result.artifacts += 1
    if ambiguous:
        launch.update_aux({"published_ambiguous": ambiguous})


def _finished(entry: HistoryEntry | None, tz: dt.tzinfo, last_complete: dt.datetime | None) -> dt.datetime | None:
    """The launch's end: .nextflow/history's start + duration, else the last task's end."""
    if entry is not None and entry.duration:
        from flowprov.integrations.nextflow.values import parse_duration_ms

        try:
            ms = parse_duration_ms(entry.duration)
        except ValueError:
            ms = None
        if ms is not None:
            return entry.timestamp.replace(tzinfo=tz).astimezone(dt.UTC) + dt.timedelta(milliseconds=ms)
    return last_complete


def print_summary(results: list[IngestResult], stream: Any = None) -> None:
    stream = stream or sys.stdout
    for r in results:
        head = f"launch {r.run.uid if r.run else '(dry run)'}: {r.run_name or '?'} session {r.session_id} pipeline {r.pipeline}"
        print(head, file=stream)
        print(
            f"  tasks {r.tasks}: executed {r.executed}, cached {r.cached} ({r.cached_linked} linked "
            f"to earlier runs), failed {r.failed}, retried {r.retried}, duplicate rows dropped {r.duplicates}",
            file=stream,
        )
        print(f"  identity from {r.identity_source}; trace times in {r.timezone}", file=stream)
