"""Nextflow weblog messages (`-with-weblog URL`): validate one POSTed body and read it.

Every message is a JSON object with `runId` (the session id), `runName`, `event` (`started`,
`process_submitted`, `process_started`, `process_completed`, `error`, `completed`; Nextflow
before 19.x sent `runStatus` instead), `utcTime`, and either `trace` (the task's trace record in
raw units: epoch-ms times, ms durations, bytes) or `metadata` (`workflow` and `parameters`, called
`params` in older versions). A trace is read by the same parser as a trace file, so a task has the
same values whichever way it was recorded. Nextflow marks what a task does not have yet with
`start: 0` and `exit: 2147483647`; those are read as missing.

Anything that is not a valid message raises `WeblogError` with a one-line reason (the receiver
answers 400 with it); fields this module does not know are kept, not fatal.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flowprov.core.exceptions import FlowprovError
from flowprov.integrations.nextflow.trace import (
    _HASH,
    ERROR_ACTIONS,
    METRICS,
    STATUSES,
    TEXT_AUX,
    TRACE_FIELDS,
    TaskRecord,
    TraceError,
    TraceReader,
)

MAX_BODY = 8 * 1024 * 1024  # a trace with a long script is a few hundred KB; more is not a weblog message
EVENTS = ("started", "process_submitted", "process_started", "process_completed", "error", "completed")
TASK_EVENTS = ("process_submitted", "process_started", "process_completed")
ENVELOPE = ("runId", "runName", "event", "runStatus", "utcTime", "trace", "metadata")
NOT_YET_EXIT = 2147483647  # Integer.MAX_VALUE: the task has not exited
TIME_FIELDS = ("submit", "start", "complete")
NUMBER_FIELDS = frozenset(("task_id", *TIME_FIELDS, *METRICS))
TEXT_FIELDS = frozenset(("hash", "name", "process", "status", *TEXT_AUX))


class WeblogError(FlowprovError, ValueError):
    """A body that is not a valid weblog message (the receiver answers 400 with this reason)."""


@dataclass
class WeblogMessage:
    event: str
    run_id: str
    run_name: str | None
    utc_time: dt.datetime | None
    task: TaskRecord | None = None
    trace_extra: dict[str, Any] = field(default_factory=dict)  # trace fields that are not trace-file fields
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # envelope fields this version does not know

    @property
    def workflow(self) -> dict[str, Any]:
        value = self.metadata.get("workflow")
        return value if isinstance(value, dict) else {}

    @property
    def parameters(self) -> dict[str, Any]:
        value = self.metadata.get("parameters", self.metadata.get("params"))
        return value if isinstance(value, dict) else {}


def parse_message(body: bytes) -> WeblogMessage:
    """Validate and read one weblog body; raises WeblogError naming what is wrong."""
    if len(body) > MAX_BODY:
        raise WeblogError(f"body of {len(body):,} bytes is larger than the {MAX_BODY // 2**20} MiB a message may have")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise WeblogError(f"body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise WeblogError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise WeblogError(f"a weblog message is a JSON object, not {_kind(data)}")
    event = data.get("event", data.get("runStatus"))
    if not isinstance(event, str):
        raise WeblogError(f"field 'event': expected one of {', '.join(EVENTS)}, got {_kind(event)}")
    if event not in EVENTS:
        raise WeblogError(f"field 'event': unknown event {event[:40]!r} (expected one of {', '.join(EVENTS)})")
    run_id = data.get("runId")
    if not isinstance(run_id, str) or not run_id.strip():
        raise WeblogError(f"field 'runId': the session id is required, got {_kind(run_id)}")
    run_name = data.get("runName")
    if run_name is not None and not isinstance(run_name, str):
        raise WeblogError(f"field 'runName': expected text, got {_kind(run_name)}")
    message = WeblogMessage(event, run_id.strip(), run_name, _utc_time(data.get("utcTime")))
    message.extra = {k: v for k, v in data.items() if k not in ENVELOPE}
    metadata = data.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise WeblogError(f"field 'metadata': expected an object, got {_kind(metadata)}")
        _check_metadata(metadata)
        message.metadata = metadata
    trace = data.get("trace")
    if trace is None and event in TASK_EVENTS:
        raise WeblogError(f"event {event!r} without a 'trace' object")
    if trace is not None:
        if not isinstance(trace, dict):
            raise WeblogError(f"field 'trace': expected an object, got {_kind(trace)}")
        message.task, message.trace_extra = read_trace(trace)
    return message


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    text = json.dumps(value)[:40]
    return f"{type(value).__name__} {text}"


def _utc_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WeblogError(f"field 'utcTime': expected an ISO 8601 time, got {_kind(value)}")
    return parse_iso_time(value, "utcTime")


def parse_iso_time(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WeblogError(f"field {name!r}: {value[:40]!r} is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _check_metadata(metadata: dict[str, Any]) -> None:
    for name in ("workflow", "parameters", "params"):
        value = metadata.get(name)
        if value is not None and not isinstance(value, dict):
            raise WeblogError(f"field 'metadata.{name}': expected an object, got {_kind(value)}")
    workflow = metadata.get("workflow") or {}
    for name in ("sessionId", "runName", "commandLine", "commitId", "scriptId", "projectName", "start", "complete"):
        value = workflow.get(name)
        if value is not None and not isinstance(value, str):
            raise WeblogError(f"field 'metadata.workflow.{name}': expected text, got {_kind(value)}")
    for name in ("start", "complete"):
        if workflow.get(name):
            parse_iso_time(workflow[name], f"metadata.workflow.{name}")


# -- the trace: same parser as a trace file ------------------------------------------------------

_readers: dict[tuple[str, ...], TraceReader] = {}


def _reader(fields: tuple[str, ...]) -> TraceReader:
    """A trace parser for this set of fields (Nextflow sends the same few sets, so they are cached)."""
    reader = _readers.get(fields)
    if reader is None:
        reader = TraceReader(Path("trace"), ZoneInfo("UTC"), name="trace")
        reader.fields = list(fields)
        _readers[fields] = reader
    return reader


def _as_text(name: str, value: Any) -> str:
    """The value as a trace file would show it in raw units ('-' for missing)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        raise WeblogError(
            f"field 'trace.{name}': expected {'a number' if name in NUMBER_FIELDS else 'text'}, got {value}"
        )
    if name in NUMBER_FIELDS:
        if isinstance(value, (int, float)):
            if (name in ("start", "complete") and value == 0) or (name == "exit" and value == NOT_YET_EXIT):
                return "-"
            return str(int(value)) if name != "%cpu" and name != "%mem" and float(value).is_integer() else str(value)
        if isinstance(value, str):
            return value
        raise WeblogError(f"field 'trace.{name}': expected a number, got {_kind(value)}")
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise WeblogError(f"field 'trace.{name}': expected text, got {_kind(value)}")


def read_trace(trace: dict[str, Any]) -> tuple[TaskRecord, dict[str, Any]]:
    """The task record of a message's trace, and the trace fields a trace file does not have."""
    fields = tuple(name for name in TRACE_FIELDS if name in trace)
    if not {"task_id", "hash", "name"} & set(fields):
        raise WeblogError("field 'trace': names none of task_id, hash, name: cannot tell which task it is")
    extra = {k: v for k, v in trace.items() if k not in TRACE_FIELDS}
    record = _read_raw(trace, fields)
    if record is None:  # text where numbers belong, or values to check: the trace file's parser reads them
        values = [_as_text(name, trace[name]) for name in fields]
        try:
            record = _reader(fields).parse(0, values)
        except TraceError as exc:
            raise WeblogError(re.sub(r"^trace:0: field '", "field 'trace.", str(exc))) from None
    return record, extra


_RAW_NUMBER = (int, float)


def _read_raw(trace: dict[str, Any], fields: tuple[str, ...]) -> TaskRecord | None:
    """The common case, fast: numbers where numbers belong (what Nextflow sends), read as the parser would.

    None when any value needs the parser (text, or a status / hash / action it checks).
    """
    status, task_hash, action = trace.get("status"), trace.get("hash"), trace.get("error_action")
    if status is not None and status not in STATUSES or action is not None and action not in ERROR_ACTIONS:
        return None
    if task_hash is not None and (not isinstance(task_hash, str) or not _HASH.match(task_hash)):
        return None
    metrics: dict[str, Any] = {}
    times: dict[str, dt.datetime | None] = {}
    for name in fields:
        value = trace[name]
        if name in NUMBER_FIELDS:
            if value is None:
                continue
            if type(value) not in _RAW_NUMBER:
                return None
            if name in TIME_FIELDS:
                times[name] = None if value == 0 and name != "submit" else _epoch_ms(value)
            elif name in METRICS:
                if name == "exit" and value == NOT_YET_EXIT:
                    continue
                metrics[METRICS[name][1]] = float(value) if METRICS[name][0] == "percent" else round(value)
        elif name in _TEXT_AUX:
            text = _raw_text(value)
            if text is _NOT_TEXT:
                return None
            if text is not None:
                metrics[name] = text
        elif value is not None and not isinstance(value, str):
            return None
    task_id = trace.get("task_id")
    record = TaskRecord(
        line=0,
        task_id=None if task_id is None else round(task_id),
        hash=task_hash or None,
        name=trace.get("name") or None,
        process=trace.get("process") or None,
        status=status or None,
        metrics=metrics,
    )
    record.submit, record.start, record.complete = times.get("submit"), times.get("start"), times.get("complete")
    return record


_TEXT_AUX = frozenset(TEXT_AUX)
_NOT_TEXT = object()


def _raw_text(value: Any) -> Any:
    if value is None or value == "" or value == "-" or value == []:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return _NOT_TEXT


def _epoch_ms(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(round(value) / 1000, tz=dt.UTC)
