"""Identity: who a Nextflow launch is, resolved once into a `LaunchIdentity`.

Where the run's identity comes from, in this order (recorded in `aux["identity_source"]`):
command-line options, the execution report, `.nextflow/history`, `.nextflow.log`, the lineage
store; without any of them the reference is the trace's content hash
(`ReferenceType.NEXTFLOW_TRACE`) and a warning is printed.

Times in a human-format trace are local to the host that ran Nextflow, without an offset. The
zone is `timezone=` when given, else inferred from the execution report (which has the same
tasks as epoch milliseconds), else this machine's local zone; `aux["trace_timezone"]` says which.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flowprov.core.tracking.adapter_kit import ReferenceType
from flowprov.integrations.nextflow.discovery import IngestError, LaunchFiles
from flowprov.integrations.nextflow.history import HistoryEntry, pipeline_from_command, read_history
from flowprov.integrations.nextflow.lineage_store import LineageStore, workflow_params
from flowprov.integrations.nextflow.logfile import LogInfo, read_log
from flowprov.integrations.nextflow.report import Report, read_report
from flowprov.integrations.nextflow.trace import TraceError, TraceReader


@dataclass
class LaunchIdentity:
    """Everything about a launch that is not its tasks: who it is, when, and in which zone."""

    run_name: str | None
    session_id: str
    reference_type: str
    pipeline: str
    revision: str | None
    command: str | None
    history: HistoryEntry | None
    tz: dt.tzinfo
    timezone: str
    sources: dict[str, str]
    params: dict[str, Any]
    report: Report | None
    report_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def started(self) -> dt.datetime | None:
        """The launch's start from `.nextflow/history` (local time of the host, in `tz`)."""
        entry = self.history
        return entry.timestamp.replace(tzinfo=self.tz).astimezone(dt.UTC) if entry else None


@dataclass
class _Sources:
    """The metadata files of a launch, read; `pick` notes which one gave each identity field."""

    report: Report | None
    log: LogInfo | None
    entries: list[HistoryEntry]
    lineage: LineageStore | None
    chosen: dict[str, str] = field(default_factory=dict)

    def pick(self, field_name: str, *candidates: tuple[str, Any]) -> Any:
        for source, value in candidates:
            if value:
                self.chosen[field_name] = source
                return value
        return None


def resolve_identity(
    trace: Path,
    files: LaunchFiles,
    lineage: LineageStore | None,
    *,
    run_name: str | None,
    session_id: str | None,
    pipeline: str | None,
    timezone: str | None,
) -> LaunchIdentity:
    """Read the metadata beside a trace and decide the launch's identity (see module doc)."""
    check_session_id(session_id)
    warned: list[str] = []
    rep = read_report(files.report) if files.report else None
    if rep is not None and files.report_found and not _report_matches(rep, trace):
        warned.append(f"{files.report}: describes other tasks than {trace.name}; not used")
        rep = None
    src = _Sources(
        rep, read_log(files.log) if files.log else None, read_history(files.history) if files.history else [], lineage
    )
    tz, tz_label = _trace_timezone(trace, rep, timezone)
    name = src.pick("run_name", ("command line", run_name), ("report", rep.run_name if rep else None))
    session = src.pick("session_id", ("command line", session_id), ("report", rep.session_id if rep else None))
    entry = _choose_history(src.entries, name, session, _first_submit_local(trace))
    wf_spec = lineage.workflow(session, name) if lineage else None
    name = name or _name_from_files(src, entry, wf_spec)
    session = session or _session_from_files(src, entry, wf_spec)
    wf_meta = (wf_spec or {}).get("metadata") or {}
    reference_type = ReferenceType.NEXTFLOW_SESSION
    if not session:
        session, reference_type = _content_reference(trace, src, warned)
    params = _read_params(files.params_file)
    if not params and wf_spec:
        params = workflow_params(wf_spec)
    return LaunchIdentity(
        run_name=name,
        session_id=session,
        reference_type=reference_type,
        pipeline=_pipeline_key(src, pipeline, entry, wf_meta, trace),
        revision=_revision(src, entry, wf_meta),
        command=(entry.command if entry else None) or (rep.command if rep else None) or wf_meta.get("commandLine"),
        history=entry,
        tz=tz,
        timezone=tz_label,
        sources=src.chosen,
        params=params,
        report=rep,
        report_tasks={str(t.get("task_id")): t for t in (rep.tasks or []) if isinstance(t, dict)} if rep else {},
        warnings=warned,
    )


def _name_from_files(src: _Sources, entry: HistoryEntry | None, wf_spec: dict[str, Any] | None) -> str | None:
    return src.pick(
        "run_name",
        ("history", entry.run_name if entry else None),
        ("log", src.log.run_name if src.log else None),
        ("lineage store", wf_spec.get("name") if wf_spec else None),
    )


def _session_from_files(src: _Sources, entry: HistoryEntry | None, wf_spec: dict[str, Any] | None) -> str | None:
    return src.pick(
        "session_id",
        ("history", entry.session_id if entry else None),
        ("log", src.log.session_id if src.log else None),
        ("lineage store", wf_spec.get("sessionId") if wf_spec else None),
    )


def _pipeline_key(
    src: _Sources, given: str | None, entry: HistoryEntry | None, wf_meta: dict[str, Any], trace: Path
) -> str:
    rep = src.report
    key = src.pick(
        "pipeline",
        ("command line", given),
        ("history", entry.pipeline if entry else None),
        ("report", pipeline_from_command(rep.command) if rep and rep.command else None),
        ("log", src.log.script if src.log else None),
        ("lineage store", pipeline_from_command(wf_meta["commandLine"]) if wf_meta.get("commandLine") else None),
    )
    src.chosen.setdefault("pipeline", "trace location")
    return key or f"nextflow/{trace.parent.name or 'pipeline'}"


def _revision(src: _Sources, entry: HistoryEntry | None, wf_meta: dict[str, Any]) -> str | None:
    return (
        (entry.revision if entry else None)
        or (src.report.commit if src.report else None)
        or (src.log.revision if src.log else None)
        or wf_meta.get("commitId")
    )


def _content_reference(trace: Path, src: _Sources, warned: list[str]) -> tuple[str, str]:
    """No session id anywhere: the trace's content hash is the launch's reference."""
    from flowprov.core.hashing import hash_path

    src.chosen["session_id"] = "trace content hash"
    message = (
        f"{trace}: no session id found (no report, history or log beside it, none given): "
        "using the trace's content hash as reference"
    )
    warned.append(message)
    warnings.warn(message, stacklevel=4)
    return hash_path(trace).hash, ReferenceType.NEXTFLOW_TRACE


def _trace_timezone(trace: Path, rep: Report | None, timezone: str | None) -> tuple[dt.tzinfo, str]:
    if timezone:
        try:
            return ZoneInfo(timezone), f"{timezone} (given)"
        except Exception:
            raise IngestError(f"--timezone {timezone!r}: not a known time zone (e.g. Europe/Berlin, UTC)") from None
    inferred, label = _infer_timezone(TraceReader(trace, ZoneInfo("UTC")), rep)
    if inferred is not None and label is not None:
        return inferred, label
    tz = dt.datetime.now().astimezone().tzinfo or dt.UTC
    return tz, f"{tz} (this machine's local zone)"


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


def check_session_id(session_id: str | None) -> None:
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
    data = _parse_yaml(path, text) if path.suffix in (".yaml", ".yml") else _parse_json(path, text)
    if not isinstance(data, dict):
        raise IngestError(f"{path}: a params file holds a mapping of names to values")
    return data


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise IngestError(f"{path}: reading a YAML params file needs PyYAML (pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise IngestError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None


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
