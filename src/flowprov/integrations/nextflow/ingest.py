"""Turn a Nextflow launch (trace file + the metadata beside it) into provenance records.

One Run per launch (reference = session id, name = run name), one child Run per task
(reference = the full task hash when the work dir shows it, else the trace's `ab/cdef12`), a
pipeline Transform and one step Transform per process, written through the Recorder in **one
transaction per launch**, streamed in chunks so memory stays flat however long the trace is.

Where the run's identity comes from, in this order (recorded in `aux["identity_source"]`):
command-line options, the execution report, `.nextflow/history`, `.nextflow.log`; without any of
them the reference is the trace's content hash (`reference_type="nextflow_trace"`) and a warning
is printed.

Times in a human-format trace are local to the host that ran Nextflow, without an offset. The
zone is `timezone=` when given, else inferred from the execution report (which has the same
tasks as epoch milliseconds), else this machine's local zone; `aux["trace_timezone"]` says which.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flowprov.core.exceptions import FlowprovError
from flowprov.integrations.nextflow.history import HistoryEntry, pipeline_from_command, read_history
from flowprov.integrations.nextflow.lineage_store import LineageStore, workflow_params
from flowprov.integrations.nextflow.logfile import LogInfo, read_log
from flowprov.integrations.nextflow.report import Report, read_report
from flowprov.integrations.nextflow.software_versions import (
    ProcessEnvironments,
    container_aux,
    find_versions_file,
    read_versions,
)
from flowprov.integrations.nextflow.trace import TaskRecord, TraceError, TraceReader
from flowprov.integrations.nextflow.workdir import (
    MAX_SCRIPT,
    find_work_dir,
    full_hash_of,
    read_cache_index,
    read_work_dir,
)

TASK_STATUS = {
    "COMPLETED": "completed",
    "FAILED": "errored",
    "ABORTED": "aborted",
    "CACHED": "completed",
    "NEW": "scheduled",
    "SUBMITTED": "scheduled",
    "RUNNING": "started",
}
CHUNK = 5000


class IngestError(FlowprovError, ValueError):
    """A launch that cannot be ingested (no trace found, unreadable metadata, ...)."""


@dataclass
class LaunchFiles:
    traces: list[Path]
    history: Path | None = None
    log: Path | None = None
    report: Path | None = None
    params_file: Path | None = None
    report_found: bool = False  # found by looking around, not given: check it matches the trace
    work_dir: Path | None = None
    outdir: Path | None = None
    launch_dir: Path | None = None
    versions_file: Path | None = None  # nf-core's software versions: the environment of each process


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

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "run"}
        out["run_uid"] = self.run.uid if self.run is not None else None
        return out


# -- finding files -------------------------------------------------------------------------------


def _trace_candidates(directory: Path) -> list[Path]:
    patterns = (
        "trace.txt",
        "trace.txt.[0-9]",
        "*trace*.txt",
        "*trace*.csv",
        "*trace*.tsv",
        "pipeline_info/execution_trace*.txt",
        "results/pipeline_info/execution_trace*.txt",
        "*/pipeline_info/execution_trace*.txt",
    )
    found: list[Path] = []
    for pattern in patterns:
        for p in sorted(directory.glob(pattern)):
            if p.is_file() and p not in found:
                found.append(p)
    return found


def find_launch_files(
    target: Path,
    history: Path | None = None,
    log: Path | None = None,
    report: Path | None = None,
    params_file: Path | None = None,
) -> LaunchFiles:
    target = Path(target)
    if not target.exists():
        raise IngestError(f"{target}: no such file or directory")
    if target.is_dir():
        traces = _trace_candidates(target)
        if not traces:
            raise IngestError(
                f"{target}: no trace file here (looked for trace.txt, *trace*.txt, "
                "pipeline_info/execution_trace*.txt); run Nextflow with -with-trace"
            )
        launch_dir = target
    else:
        traces = [target]
        launch_dir = target.parent
    trace_dir = traces[0].parent
    search = [launch_dir, trace_dir, *list(trace_dir.parents)[:3]]

    def first(candidates: list[Path]) -> Path | None:
        return next((c for c in candidates if c.is_file()), None)

    report_found = report is None
    history = history or first([d / ".nextflow" / "history" for d in search])
    log = log or first([d / ".nextflow.log" for d in search])
    if report is None:
        reports = sorted(trace_dir.glob("execution_report*.html")) + sorted(trace_dir.glob("*report*.html"))
        report = reports[0] if reports else None
    if params_file is None:
        params = sorted(trace_dir.glob("params_*.json"))
        params_file = params[-1] if params else None
    return LaunchFiles(
        traces,
        history,
        log,
        report,
        params_file,
        report_found=report_found and report is not None,
        launch_dir=launch_dir,
        versions_file=find_versions_file(trace_dir, launch_dir),
    )


# -- identity ----------------------------------------------------------------------------------


def _infer_timezone(reader: TraceReader, report: Report | None) -> tuple[dt.tzinfo | None, str | None]:
    """A fixed offset from the report's epoch times of the same tasks, if both are there."""
    if report is None or not report.tasks:
        return None, None
    by_id = {str(t.get("task_id")): t for t in report.tasks if isinstance(t, dict)}
    utc_reader = TraceReader(reader.path, ZoneInfo("UTC"), reader.where)
    for record in utc_reader.records():
        task = by_id.get(str(record.task_id))
        epoch = task.get("submit") if task else None
        if record.submit is None or not epoch or not str(epoch).isdigit():
            continue
        true_utc = dt.datetime.fromtimestamp(int(epoch) / 1000, tz=dt.UTC)
        offset = record.submit - true_utc  # trace local time read as UTC, minus the real instant
        minutes = round(offset.total_seconds() / 900) * 15
        if minutes == 0 and (record.submit - true_utc).total_seconds() == 0:
            return dt.UTC, "UTC (inferred from the execution report)"
        return dt.timezone(dt.timedelta(minutes=minutes)), f"UTC{minutes / 60:+g}h (inferred from the execution report)"
    return None, None


def _report_matches(report: Report, trace: Path) -> bool:
    """A report found by name is used only when it describes the same tasks as the trace."""
    if not report.tasks:
        return False
    report_hashes = {str(t.get("hash", "")).replace("\\/", "/") for t in report.tasks if isinstance(t, dict)}
    reader = TraceReader(trace, ZoneInfo("UTC"))
    try:
        for n, record in enumerate(reader.records()):
            if record.hash in report_hashes:
                return True
            if n > 50:
                break
    except TraceError:
        return False
    return False


def _enrich_from_report(record: TaskRecord, task: dict[str, Any]) -> None:
    """Fill fields the trace lacks (attempt, error_action, workdir, ...) from the report's raw values."""
    from flowprov.integrations.nextflow.trace import METRICS, TEXT_AUX

    for name in ("attempt", "cpus", "exit"):
        value = task.get(name)
        key = METRICS[name][1]
        if key not in record.metrics and value not in (None, "-", "") and str(value).lstrip("-").isdigit():
            record.metrics[key] = int(value)
    for name in TEXT_AUX:
        value = task.get(name)
        if name not in record.metrics and value not in (None, "-", "") and name not in ("script", "env"):
            record.metrics[name] = str(value)
    if record.process is None and task.get("process") not in (None, "-"):
        record.process = str(task["process"])


def _choose_history(
    entries: list[HistoryEntry], run_name: str | None, session_id: str | None, first_submit_local: dt.datetime | None
) -> HistoryEntry | None:
    if not entries:
        return None
    if run_name:
        named = [e for e in entries if e.run_name == run_name]
        if named:
            return named[-1]
    if session_id:
        same = [e for e in entries if e.session_id == session_id]
        if len(same) == 1:
            return same[0]
    if first_submit_local is not None:
        before = [e for e in entries if e.timestamp <= first_submit_local]
        if before:
            return max(before, key=lambda e: e.timestamp)
    return entries[0] if len(entries) == 1 else None


def _check_session_id(session_id: str | None) -> None:
    if session_id is None:
        return
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise IngestError(
            f"--session-id {session_id!r}: not a Nextflow session id (a UUID such as 5477e033-04ee-44f1-81c9-a72a7f1508c2)"
        ) from None


def _read_params(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: bytes that are not UTF-8 at offset {exc.start}: not a params file") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise IngestError(f"{path}: reading a YAML params file needs PyYAML (pip install pyyaml)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise IngestError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise IngestError(f"{path}: a params file holds a mapping of names to values")
    return data


def task_aux_of(record: TaskRecord) -> dict[str, Any]:
    """A task run's aux from its trace record (shared by the file ingest and the weblog receiver)."""
    aux = dict(record.metrics)
    aux["task_id"] = record.task_id
    aux["trace_status"] = record.status
    if record.hash:
        aux["hash"] = record.hash
    if record.submit:
        aux["submit"] = record.submit.isoformat()
    if record.status == "CACHED":
        aux["cached"] = True
    aux.update(container_aux(record.metrics.get("container")))
    return aux


def task_finished_at(record: TaskRecord) -> dt.datetime | None:
    """When a task ended, as both the file ingest and the weblog receiver record it: `complete`,
    else submit + duration (Nextflow's duration runs from submission), else start + realtime;
    None when the record gives none of them."""
    if record.complete is not None:
        return record.complete
    duration, realtime = record.metrics.get("duration_ms"), record.metrics.get("realtime_ms")
    if record.submit is not None and duration is not None:
        return record.submit + dt.timedelta(milliseconds=duration)
    if record.start is not None and realtime is not None:
        return record.start + dt.timedelta(milliseconds=realtime)
    return None


def task_end_note(record: TaskRecord, finished_at: dt.datetime | None) -> dict[str, str]:
    """The aux note of a task that ended but whose end no field gives (live and file alike)."""
    if finished_at is None and record.status in ("COMPLETED", "FAILED", "ABORTED"):
        return {"finished_at_unknown": "the trace has no complete, submit + duration or start + realtime"}
    return {}


def _full_hash(record: TaskRecord) -> str | None:
    workdir = record.workdir
    if workdir:
        parts = workdir.rstrip("/").split("/")
        if len(parts) >= 2 and len(parts[-2]) == 2 and len(parts[-1]) == 30:
            return parts[-2] + parts[-1]
    return None


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
) -> list[IngestResult]:
    """Ingest every launch found at `target` (a trace file or a launch directory)."""
    _check_session_id(session_id)
    files = find_launch_files(Path(target), _opt(history), _opt(log), _opt(report), _opt(params_file))
    files.work_dir = _opt(work_dir) or _default_work_dir(Path(target))
    files.outdir = _opt(outdir)
    return [
        ingest_one(
            trace,
            files,
            run_name=run_name,
            session_id=session_id,
            pipeline=pipeline,
            timezone=timezone,
            store=store,
            dry_run=dry_run,
            progress=progress,
        )
        for trace in files.traces
    ]


def ingest_trace(path: str | Path, **options: Any) -> Any:
    """Ingest one launch and return its Run (see `ingest` for the options)."""
    results = ingest(path, **options)
    return results[0].run


def _default_work_dir(target: Path) -> Path | None:
    candidate = (target if target.is_dir() else target.parent) / "work"
    return candidate if candidate.is_dir() else None


def _opt(value: str | Path | None) -> Path | None:
    return Path(value) if value is not None else None


def ingest_one(
    trace: Path,
    files: LaunchFiles,
    *,
    run_name: str | None,
    session_id: str | None,
    pipeline: str | None,
    timezone: str | None,
    store: Any,
    dry_run: bool,
    progress: Callable[[int, int], None] | None,
) -> IngestResult:
    result = IngestResult()
    lineage = _open_lineage_store(files)
    rep = read_report(files.report) if files.report else None
    if rep is not None and files.report_found and not _report_matches(rep, trace):
        result.warnings.append(f"{files.report}: describes other tasks than {trace.name}; not used")
        rep = None
    log_info: LogInfo | None = read_log(files.log) if files.log else None
    entries = read_history(files.history) if files.history else []
    reader = TraceReader(trace, ZoneInfo("UTC"))
    # timezone of the trace's local times
    if timezone:
        try:
            tz: dt.tzinfo = ZoneInfo(timezone)
        except Exception:
            raise IngestError(f"--timezone {timezone!r}: not a known time zone (e.g. Europe/Berlin, UTC)") from None
        result.timezone = f"{timezone} (given)"
    else:
        inferred, label = _infer_timezone(reader, rep)
        if inferred is not None:
            tz, result.timezone = inferred, label
        else:
            tz = dt.datetime.now().astimezone().tzinfo or dt.UTC
            result.timezone = f"{tz} (this machine's local zone)"
    reader.tz = tz
    # identity, in the documented order
    sources: dict[str, str] = {}

    def pick(field_name: str, *candidates: tuple[str, Any]) -> Any:
        for source, value in candidates:
            if value:
                sources[field_name] = source
                return value
        return None

    first_submit_local = _first_submit_local(trace)
    name = pick("run_name", ("command line", run_name), ("report", rep.run_name if rep else None))
    session = pick("session_id", ("command line", session_id), ("report", rep.session_id if rep else None))
    entry = _choose_history(entries, name, session, first_submit_local)
    wf_spec = lineage.workflow(session, name) if lineage else None
    name = name or pick(
        "run_name",
        ("history", entry.run_name if entry else None),
        ("log", log_info.run_name if log_info else None),
        ("lineage store", wf_spec.get("name") if wf_spec else None),
    )
    session = session or pick(
        "session_id",
        ("history", entry.session_id if entry else None),
        ("log", log_info.session_id if log_info else None),
        ("lineage store", wf_spec.get("sessionId") if wf_spec else None),
    )
    wf_meta = (wf_spec or {}).get("metadata") or {}
    command = (entry.command if entry else None) or (rep.command if rep else None) or wf_meta.get("commandLine")
    pipeline_key = pick(
        "pipeline",
        ("command line", pipeline),
        ("history", entry.pipeline if entry else None),
        ("report", pipeline_from_command(rep.command) if rep and rep.command else None),
        ("log", log_info.script if log_info else None),
        ("lineage store", pipeline_from_command(wf_meta["commandLine"]) if wf_meta.get("commandLine") else None),
    )
    revision = (
        (entry.revision if entry else None)
        or (rep.commit if rep else None)
        or (log_info.revision if log_info else None)
        or wf_meta.get("commitId")
    )
    reference_type = "nextflow_session_id"
    if not session:
        from flowprov.core.hashing import hash_path

        session = hash_path(trace).hash
        reference_type = "nextflow_trace"
        sources["session_id"] = "trace content hash"
        message = (
            f"{trace}: no session id found (no report, history or log beside it, none given): "
            "using the trace's content hash as reference"
        )
        result.warnings.append(message)
        warnings.warn(message, stacklevel=2)
    pipeline_key = pipeline_key or f"nextflow/{trace.parent.name or 'pipeline'}"
    sources.setdefault("pipeline", "trace location")
    result.run_name, result.session_id, result.pipeline, result.identity_source = name, session, pipeline_key, sources
    params = _read_params(files.params_file)
    if not params and wf_spec:
        params = workflow_params(wf_spec)
    report_tasks = {str(t.get("task_id")): t for t in (rep.tasks or []) if isinstance(t, dict)} if rep else {}
    return _write_launch(
        reader,
        result,
        files if rep or not files.report_found else _without_report(files),
        entry,
        tz,
        command,
        revision,
        reference_type,
        params,
        store,
        dry_run,
        progress,
        report_tasks,
        lineage,
    )


def _without_report(files: LaunchFiles) -> LaunchFiles:
    return LaunchFiles(
        files.traces,
        files.history,
        files.log,
        None,
        files.params_file,
        work_dir=files.work_dir,
        outdir=files.outdir,
        launch_dir=files.launch_dir,
        versions_file=files.versions_file,
    )


def _first_submit_local(trace: Path) -> dt.datetime | None:
    """The first submit time of a non-cached task, as written (naive), for matching history lines."""
    reader = TraceReader(trace, ZoneInfo("UTC"))
    try:
        for record in reader.records():
            if record.status != "CACHED" and record.submit is not None:
                return record.submit.replace(tzinfo=None)
    except TraceError:
        return None
    return None


def _write_launch(
    reader: TraceReader,
    result: IngestResult,
    files: LaunchFiles,
    entry: HistoryEntry | None,
    tz: dt.tzinfo,
    command: str | None,
    revision: str | None,
    reference_type: str,
    params: dict[str, Any],
    store: Any,
    dry_run: bool,
    progress: Callable[[int, int], None] | None,
    report_tasks: dict[str, dict[str, Any]],
    lineage: LineageStore | None = None,
) -> IngestResult:
    from flowprov.core.registry import Run
    from flowprov.core.tracking.adapter_kit import redact_argv
    from flowprov.core.tracking.recorder import Recorder, TransformSpec

    if not dry_run and store is None:
        from flowprov.core.store.connection import current_store

        store = current_store()
    total = reader.path.stat().st_size
    aux: dict[str, Any] = {
        "trace_file": str(reader.path.resolve()),
        "trace_timezone": result.timezone,
        "identity_source": result.identity_source,
    }
    if command:
        try:
            aux["command"] = " ".join(shlex.quote(w) for w in redact_argv(shlex.split(command)))
        except ValueError:
            aux["command"] = command
    if revision:
        aux["revision"] = revision
    assert result.pipeline is not None  # identity always names a pipeline, at worst from the trace location
    pipeline_spec = TransformSpec(key=result.pipeline, name=result.pipeline, type="pipeline", version=revision)
    step_specs: dict[str, TransformSpec] = {}
    started = entry.timestamp.replace(tzinfo=tz).astimezone(dt.UTC) if entry else None
    statuses: Counter[str] = Counter()
    failed_retry: dict[str, str] = {}
    retry_of: dict[int, str] = {}  # trace line -> hash of the failed attempt it retries (taken while reading, in order)
    cached_uids: list[str] = []
    first_submit = last_complete = None
    stop_action = False

    unresolved_failures: set[str] = set()  # failed task names with no later success (default errorStrategy terminates)

    def launch_status() -> str:
        if entry is not None and entry.status == "OK":
            return "completed"
        if entry is not None and entry.status == "ERR":
            return "errored"
        if statuses["NEW"] or statuses["SUBMITTED"] or statuses["RUNNING"] or result.tasks == 0:
            return "aborted"  # killed while tasks were pending, or before any finished
        if stop_action or (unresolved_failures and "error_action" not in reader.fields):
            return "errored"
        return "completed"

    cache_index = _load_cache_index(files, result)
    versions = (
        ProcessEnvironments(read_versions(files.versions_file), files.versions_file) if files.versions_file else None
    )
    published_owner: dict[str, list[Writer]] = {}  # output hash -> the tasks that wrote those bytes

    def task_reference(record: TaskRecord) -> str:
        full = _full_hash(record) or (cache_index.get(record.hash, (None,))[0] if record.hash else None)
        if full is None and lineage is not None and record.hash:
            full = lineage.full_hash(record.hash)
        return full or record.hash or f"task:{record.task_id}"

    rec = Recorder(store, flush_every=10**12) if not dry_run else None
    ctx = store.transaction() if not dry_run else nullcontext()
    with ctx:
        launch = None
        if rec is not None:
            launch = rec.open_run(
                pipeline_spec,
                reference=result.session_id,
                reference_type=reference_type,
                name=result.run_name,
                params=params,
                started_at=started,
                status="started",
                aux=aux,
            )
            launch.opened_at = None  # a start comes from history or the first task, never from now
        chunk: list[TaskRecord] = []

        def write_chunk() -> None:
            nonlocal chunk
            if rec is None or not chunk:
                chunk = []
                return
            cached = [r for r in chunk if r.status == "CACHED"]
            existing: dict[str, Any] = {}
            refs = [task_reference(r) for r in cached]
            if refs:
                for run in Run.filter(
                    reference_type="nextflow_task_hash", reference__in=[r for r in refs if r]
                ).exclude(initiated_by_run__reference=result.session_id, initiated_by_run__name=result.run_name):
                    if run.reference:
                        existing[run.reference] = run
            for record in chunk:
                reference = task_reference(record)
                work = find_work_dir(
                    record.workdir, record.hash, reference if len(reference) == 32 else None, files.work_dir
                )
                if work is not None and len(reference) != 32:
                    reference = (
                        full_hash_of(work) or reference
                    )  # found by its short hash: the directory names the full one
                if record.status == "CACHED" and reference in existing:
                    result.cached_linked += 1
                    cached_uids.append(existing[reference].uid)
                    continue
                process = record.process_name or "unknown"
                spec = step_specs.get(process)
                if spec is None:
                    spec = step_specs[process] = TransformSpec(
                        key=f"{result.pipeline}#{process}", name=process, type="step", version=revision
                    )
                task_aux = task_aux_of(record)
                task_aux["trace_line"] = record.line
                previous = retry_of.pop(record.line, None)
                if previous:
                    task_aux["retry_of"] = previous
                handle = rec.open_run(
                    spec,
                    reference=reference,
                    reference_type="nextflow_task_hash",
                    name=record.name,
                    parent=launch,
                    started_at=record.start or record.submit,
                    status=TASK_STATUS.get(record.status or "", "started"),
                    aux=task_aux,
                )
                handle.opened_at = None  # a row without submit/start keeps an empty start
                handle.finished_at = task_finished_at(record)
                handle.aux.update(task_end_note(record, handle.finished_at))
                handle.dirty = True
                environment = versions.for_task(process, record.metrics.get("container")) if versions else None
                if environment is not None:
                    handle.set_environment(environment)
                if work is not None and record.status != "CACHED":
                    _record_work_dir(handle, work, spec, reference, record.name, published_owner, result)
                if lineage is not None and len(reference) == 32 and record.status != "CACHED":
                    _record_lineage_task(handle, lineage, reference, spec, record.name, published_owner, result)
            rec.flush()
            rec.forget(keep=[launch] if launch is not None else [])
            chunk = []

        attempts: dict[str, int] = {}  # name -> attempts seen, for names that failed
        for record in reader.records():
            task = report_tasks.get(str(record.task_id))
            if task is not None:
                _enrich_from_report(record, task)
            if record.name in attempts and "attempt" not in record.metrics:
                record.metrics["attempt"] = attempts[record.name] + 1  # a row after a failure of the same task
            if record.attempt > 1 and record.name in failed_retry:
                retry_of[record.line] = failed_retry.pop(record.name or "")
            result.tasks += 1
            statuses[record.status or "-"] += 1
            if record.status == "CACHED":
                result.cached += 1
            elif record.status in ("COMPLETED", "FAILED", "ABORTED"):
                result.executed += 1
            if record.status in ("COMPLETED", "CACHED") and record.name:
                unresolved_failures.discard(record.name)
            if record.status == "FAILED":
                result.failed += 1
                if record.name:
                    unresolved_failures.add(record.name)
                    attempts[record.name] = record.attempt
                    if "error_action" not in record.metrics:
                        failed_retry[record.name] = _full_hash(record) or record.hash or ""
                action = record.metrics.get("error_action")
                if action == "RETRY" and record.name:
                    failed_retry[record.name] = _full_hash(record) or record.hash or ""
                if action in ("TERMINATE", "FINISH"):
                    stop_action = True
            if record.attempt > 1:
                result.retried += 1
            if record.status != "CACHED":
                if record.submit and (first_submit is None or record.submit < first_submit):
                    first_submit = record.submit
                end = task_finished_at(record)
                if end and (last_complete is None or end > last_complete):
                    last_complete = end
            chunk.append(record)
            if len(chunk) >= CHUNK:
                write_chunk()
                if progress:
                    progress(result.tasks, total)
        write_chunk()
        result.duplicates = reader.duplicates
        result.statuses = dict(statuses)
        if rec is not None and launch is not None:
            summary = {
                "tasks": result.tasks,
                "executed": result.executed,
                "cached": result.cached,
                "cached_linked": result.cached_linked,
                "failed": result.failed,
                "retried": result.retried,
                "duplicate_rows": result.duplicates,
            }
            launch.update_aux({"task_counts": summary, **({"cached_task_runs": cached_uids} if cached_uids else {})})
            launch.started_at = started or first_submit or launch.started_at
            if files.outdir is not None:
                _record_published(rec, launch, files.outdir, published_owner, result)
            rec.close_run(
                launch,
                launch_status(),
                finished_at=_finished(entry, tz, last_complete),
                unknown_end="neither .nextflow/history nor any task of the trace gives an end time",
            )
            if files.report:
                launch.set_report(files.report)
            launch_environment = versions.launch_file() if versions else None
            if launch_environment is not None:
                launch.set_environment(launch_environment)
            rec.flush()
            result.run = launch.run
            result.artifacts += 1 if files.report else 0
    if progress:
        progress(result.tasks, total)
    return result


def _load_cache_index(files: LaunchFiles, result: IngestResult) -> dict[str, tuple[str, bool]]:
    """The binary cache index of this launch, when it is beside the trace (short -> full hash)."""
    if not files.launch_dir or not result.session_id or not result.run_name:
        return {}
    path = files.launch_dir / ".nextflow" / "cache" / result.session_id / f"index.{result.run_name}"
    if not path.is_file():
        return {}
    try:
        return read_cache_index(path)
    except ValueError as exc:
        raise IngestError(str(exc)) from None


def _record_work_dir(
    handle: Any,
    work: Path,
    spec: Any,
    reference: str,
    name: str | None,
    published_owner: dict[str, list[Writer]],
    result: IngestResult,
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
        _note_writer(published_owner, spec_file.content["hash"], (spec, reference, name, Path(path).name))
        result.artifacts += 1


def _open_lineage_store(files: LaunchFiles) -> LineageStore | None:
    if files.launch_dir is None:
        return None
    root = files.launch_dir / ".lineage"
    return LineageStore(root) if root.is_dir() else None


def _record_lineage_task(
    handle: Any,
    lineage: LineageStore,
    reference: str,
    spec: Any,
    name: str | None,
    published_owner: dict[str, list[Writer]],
    result: IngestResult,
) -> None:
    """What the lineage store knows about a task: its script, and its files when they are here."""
    task = lineage.task(reference)
    if task is None:
        return
    if task.get("script"):
        handle.aux.setdefault("script", str(task["script"])[:MAX_SCRIPT])
    for path in lineage.task_inputs(task):
        if path.exists():
            handle.add_input(path)
            result.artifacts += 1
    for path in lineage.task_outputs(reference):
        if path.exists():
            written = handle.add_output(path).content["hash"]
            _note_writer(published_owner, written, (spec, reference, name, Path(path).name))
            result.artifacts += 1


Writer = tuple[Any, str, "str | None", str]  # (step spec, task reference, task name, file name written)


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
                spec, reference=reference, reference_type="nextflow_task_hash", name=name, parent=launch, status=None
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
