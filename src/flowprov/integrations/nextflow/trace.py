"""Read Nextflow trace files: any subset and order of the 42 TraceRecord fields, streamed.

The separator (tab by default, any single character) is taken from the header. `script` and
`env` values are written unescaped and may hold newlines or the separator, so records are
assembled by field count, not by line. Exact duplicate records are dropped. Every problem is one
`TraceError` naming the file, the line and the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowprov.core.exceptions import FlowprovError
from flowprov.integrations.nextflow import values as v

TRACE_FIELDS = (
    "task_id",
    "hash",
    "native_id",
    "process",
    "module",
    "container",
    "tag",
    "name",
    "status",
    "exit",
    "submit",
    "start",
    "complete",
    "duration",
    "realtime",
    "time",
    "%cpu",
    "%mem",
    "rss",
    "vmem",
    "peak_rss",
    "peak_vmem",
    "rchar",
    "wchar",
    "read_bytes",
    "write_bytes",
    "syscr",
    "syscw",
    "memory",
    "disk",
    "attempt",
    "cpus",
    "vol_ctxt",
    "inv_ctxt",
    "workdir",
    "script",
    "scratch",
    "queue",
    "env",
    "error_action",
    "hostname",
    "cpu_model",
)
MULTILINE_FIELDS = ("script", "env")
STATUSES = ("COMPLETED", "FAILED", "ABORTED", "CACHED", "NEW", "SUBMITTED", "RUNNING")
ERROR_ACTIONS = ("RETRY", "IGNORE", "FINISH", "TERMINATE")

# field -> (parser kind, aux key with the unit in its name)
METRICS: dict[str, tuple[str, str]] = {
    "duration": ("duration", "duration_ms"),
    "realtime": ("duration", "realtime_ms"),
    "time": ("duration", "time_limit_ms"),
    "%cpu": ("percent", "cpu_percent"),
    "%mem": ("percent", "mem_percent"),
    "rss": ("memory", "rss_bytes"),
    "vmem": ("memory", "vmem_bytes"),
    "peak_rss": ("memory", "peak_rss_bytes"),
    "peak_vmem": ("memory", "peak_vmem_bytes"),
    "rchar": ("memory", "rchar_bytes"),
    "wchar": ("memory", "wchar_bytes"),
    "read_bytes": ("memory", "read_bytes"),
    "write_bytes": ("memory", "write_bytes"),
    "memory": ("memory", "memory_bytes"),
    "disk": ("memory", "disk_bytes"),
    "syscr": ("int", "syscr"),
    "syscw": ("int", "syscw"),
    "vol_ctxt": ("int", "vol_ctxt"),
    "inv_ctxt": ("int", "inv_ctxt"),
    "cpus": ("int", "cpus"),
    "attempt": ("int", "attempt"),
    "exit": ("int", "exit"),
}
TEXT_AUX = (
    "native_id",
    "module",
    "container",
    "tag",
    "workdir",
    "scratch",
    "queue",
    "error_action",
    "hostname",
    "cpu_model",
    "script",
    "env",
)
_PARSERS = {
    "duration": v.parse_duration_ms,
    "memory": v.parse_memory_bytes,
    "percent": v.parse_percent,
    "int": v.parse_int,
}


class TraceError(FlowprovError, ValueError):
    """A trace file that cannot be read; the message names the file, line and field."""


@dataclass
class TaskRecord:
    """One row of a trace, parsed: identity, status, times (UTC) and metrics with units."""

    line: int
    task_id: int | None
    hash: str | None
    name: str | None
    process: str | None
    status: str | None
    submit: dt.datetime | None = None
    start: dt.datetime | None = None
    complete: dt.datetime | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        return self.metrics.get("attempt") or 1

    @property
    def workdir(self) -> str | None:
        return self.metrics.get("workdir")

    @property
    def process_name(self) -> str | None:
        """The process: the `process` field, else `name` without its ` (tag)`."""
        if self.process:
            return self.process
        if self.name is None:
            return None
        return re.sub(r"\s*\(.*\)\s*$", "", self.name) or self.name


def detect_separator(header: str, where: str) -> str:
    """The single character between field names in a header line."""
    names = re.split(r"[^a-z_%0-9]", header)
    seps = set(re.findall(r"[^a-z_%0-9]", header))
    if not header.strip() or not names or not names[0]:
        raise TraceError(f"{where}:1: not a trace header: {header[:80]!r}")
    if len(seps) != 1:
        raise TraceError(
            f"{where}:1: cannot tell the separator from the header (found {sorted(seps) or 'none'}); "
            "expected field names like task_id<TAB>hash<TAB>..."
        )
    return seps.pop()


class TraceReader:
    """Iterate the records of one trace file without loading it whole."""

    def __init__(self, path: Path, timezone: dt.tzinfo, name: str | None = None) -> None:
        self.path = Path(path)
        self.where = name or self.path.name
        self.tz = timezone
        self.fields: list[str] = []
        self.sep = "\t"
        self.duplicates = 0

    def _lines(self) -> Iterator[tuple[int, str]]:
        self.last_line_complete = True
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise TraceError(
                        f"{self.where}:{number}: bytes that are not UTF-8 at column {exc.start + 1}"
                    ) from None
                if number == 1:
                    text = text.removeprefix("\ufeff")  # a byte-order mark written by some editors
                self.last_line_complete = text.endswith("\n")
                yield number, text.rstrip("\n").rstrip("\r")

    def _header(self, line: str) -> None:
        self.sep = detect_separator(line, self.where)
        self.fields = line.split(self.sep)
        unknown = [f for f in self.fields if f not in TRACE_FIELDS]
        if unknown:
            raise TraceError(
                f"{self.where}:1: field {unknown[0]!r}: not a Nextflow trace field (known: {', '.join(TRACE_FIELDS)})"
            )
        dupes = {f for f in self.fields if self.fields.count(f) > 1}
        if dupes:
            raise TraceError(f"{self.where}:1: field {sorted(dupes)[0]!r} appears twice in the header")
        if "task_id" not in self.fields and "hash" not in self.fields and "name" not in self.fields:
            raise TraceError(f"{self.where}:1: the header names none of task_id, hash, name: cannot tell tasks apart")

    def raw_records(self) -> Iterator[tuple[int, list[str]]]:
        """(first line number, field values) per record, joining lines split inside script/env."""
        lines = self._lines()
        first = next(lines, None)
        if first is None:
            raise TraceError(f"{self.where}:1: empty file (not even a header)")
        self._header(first[1])
        n = len(self.fields)
        multiline = [i for i, f in enumerate(self.fields) if f in MULTILINE_FIELDS]
        pending: list[str] | None = None
        start = 0
        for number, text in lines:
            if pending is None:
                if not text.strip():
                    continue
                pending, start = text.split(self.sep), number
            elif multiline:
                parts = text.split(self.sep)
                pending[-1] += "\n" + parts[0]
                pending += parts[1:]
            else:
                pending = text.split(self.sep)
            if len(pending) < n:
                if not multiline:
                    if not self.last_line_complete:
                        raise TraceError(
                            f"{self.where}:{start}: the last line has {len(pending)} of {n} fields and no line end: the file is truncated"
                        )
                    raise TraceError(
                        f"{self.where}:{start}: {len(pending)} fields where the header has {n} (wrong separator or a cut line?)"
                    )
                continue
            if len(pending) > n:
                if not multiline:
                    raise TraceError(
                        f"{self.where}:{start}: {len(pending)} fields where the header has {n} (a stray {self.sep!r}?)"
                    )
                keep = multiline[-1]
                extra = len(pending) - n
                pending = (
                    pending[:keep] + [self.sep.join(pending[keep : keep + extra + 1])] + pending[keep + extra + 1 :]
                )
            yield start, pending
            pending = None
        if pending is not None:
            raise TraceError(
                f"{self.where}:{start}: the file ends inside a record ({len(pending)} of {n} fields): truncated?"
            )

    def records(self) -> Iterator[TaskRecord]:
        seen: set[int] = set()
        for number, fields in self.raw_records():
            key = hash(tuple(fields))
            if key in seen:
                self.duplicates += 1
                continue
            seen.add(key)
            yield self.parse(number, fields)

    def _plan(self) -> None:
        """Per column, what to do with its value; computed once from the header."""
        index = {name: i for i, name in enumerate(self.fields)}
        self._idx = {
            name: index.get(name)
            for name in ("task_id", "hash", "name", "process", "status", "submit", "start", "complete")
        }
        self._time_plan: list[tuple[int, str]] = [
            (index[name], name) for name in ("submit", "start", "complete") if name in index
        ]
        self._metric_plan = [
            (index[name], name, _PARSERS[kind], key) for name, (kind, key) in METRICS.items() if name in index
        ]
        self._text_plan = [(index[name], name) for name in TEXT_AUX if name in index]

    def _fail(self, number: int, name: str, exc: Exception) -> TraceError:
        return TraceError(f"{self.where}:{number}: field {name!r}: {exc}")

    def _identity(self, number: int, values: list[str]) -> tuple[int | None, str | None, str | None]:
        """task_id, hash and status of a row, checked."""
        idx = self._idx
        i_task, i_hash, i_status = idx["task_id"], idx["hash"], idx["status"]
        task_id = None
        if i_task is not None:
            try:
                task_id = v.parse_int(values[i_task] or "", minimum=1)
            except ValueError as exc:
                raise self._fail(number, "task_id", exc) from None
        status = None if i_status is None else values[i_status]
        if status is not None and status not in STATUSES:
            if not v.missing(status):
                raise self._fail(
                    number, "status", ValueError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
                )
            status = None
        task_hash = None if i_hash is None else _text(values[i_hash])
        if task_hash is not None and not _HASH.match(task_hash):
            raise self._fail(number, "hash", ValueError(f"cannot parse {task_hash!r} (expected like 'ab/cdef12')"))
        return task_id, task_hash, status

    def parse(self, number: int, values: list[str]) -> TaskRecord:
        if not hasattr(self, "_idx"):
            self._plan()
        task_id, task_hash, status = self._identity(number, values)
        i_name, i_process = self._idx["name"], self._idx["process"]
        times: dict[str, dt.datetime | None] = {}
        for i, name in self._time_plan:
            try:
                times[name] = v.parse_timestamp(values[i], self.tz)
            except ValueError as exc:
                raise self._fail(number, name, exc) from None
        metrics: dict[str, Any] = {}
        for i, name, parser, key in self._metric_plan:
            raw = values[i]
            if raw == "-":
                continue
            try:
                value = parser(raw)
            except ValueError as exc:
                raise self._fail(number, name, exc) from None
            if value is not None:
                metrics[key] = value
        for i, name in self._text_plan:
            raw = values[i]
            if raw and raw != "-":
                metrics[name] = raw
        action = metrics.get("error_action")
        if action is not None and action not in ERROR_ACTIONS:
            raise self._fail(number, "error_action", ValueError(f"unknown error action {action!r}"))
        return TaskRecord(
            number,
            task_id,
            task_hash,
            None if i_name is None else _text(values[i_name]),
            None if i_process is None else _text(values[i_process]),
            status,
            times.get("submit"),
            times.get("start"),
            times.get("complete"),
            metrics,
        )


_HASH = re.compile(r"[0-9a-f]{2}/[0-9a-f]{6}$")


def _text(value: str | None) -> str | None:
    if value is None or v.missing(value):
        return None
    return value
