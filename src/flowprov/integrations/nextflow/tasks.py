"""Reading: trace records → task facts (status, times, aux, reference), and the launch's tally.

Shared by the file ingest and the weblog receiver, so a launch recorded live and then ingested is
one set of records.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flowprov.integrations.nextflow.software_versions import container_aux
from flowprov.integrations.nextflow.trace import METRICS, TEXT_AUX, TaskRecord
from flowprov.integrations.nextflow.workdir import full_hash_of

TASK_STATUS = {
    "COMPLETED": "completed",
    "FAILED": "errored",
    "ABORTED": "aborted",
    "CACHED": "completed",
    "NEW": "scheduled",
    "SUBMITTED": "scheduled",
    "RUNNING": "started",
}


def full_hash(record: TaskRecord) -> str | None:
    """The 32-hex task hash, when the record's work dir shows it."""
    workdir = record.workdir
    return full_hash_of(workdir) if workdir else None


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


def enrich_from_report(record: TaskRecord, task: dict[str, Any]) -> None:
    """Fill fields the trace lacks (attempt, error_action, workdir, ...) from the report's raw values."""
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


@dataclass
class LaunchTally:
    """What the tasks of a launch add up to, read record by record in trace order: counts, the
    first submit and last end, which row retries which failed attempt, and the launch's status."""

    report_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: int = 0
    executed: int = 0
    cached: int = 0
    failed: int = 0
    retried: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    first_submit: dt.datetime | None = None
    last_complete: dt.datetime | None = None
    stop_action: bool = False
    unresolved_failures: set[str] = field(default_factory=set)  # failed names with no later success
    failed_retry: dict[str, str] = field(default_factory=dict)  # name -> hash of its failed attempt
    attempts: dict[str, int] = field(default_factory=dict)  # name -> attempts seen, for names that failed

    def observe(self, record: TaskRecord) -> str | None:
        """Count one record (completing its attempt from the report or earlier rows); returns
        the hash of the failed attempt this record retries, if any."""
        task = self.report_tasks.get(str(record.task_id))
        if task is not None:
            enrich_from_report(record, task)
        name = record.name
        if name in self.attempts and "attempt" not in record.metrics:
            record.metrics["attempt"] = self.attempts[name] + 1  # a row after a failure of the same task
        retry_of = self.failed_retry.pop(name) if record.attempt > 1 and name in self.failed_retry else None
        self.tasks += 1
        self.statuses[record.status or "-"] += 1
        if record.status == "CACHED":
            self.cached += 1
        elif record.status in ("COMPLETED", "FAILED", "ABORTED"):
            self.executed += 1
        if record.status in ("COMPLETED", "CACHED") and name:
            self.unresolved_failures.discard(name)
        if record.status == "FAILED":
            self._failure(record)
        if record.attempt > 1:
            self.retried += 1
        if record.status != "CACHED":
            self._times(record)
        return retry_of or None

    def _failure(self, record: TaskRecord) -> None:
        self.failed += 1
        name, action = record.name, record.metrics.get("error_action")
        if name:
            self.unresolved_failures.add(name)
            self.attempts[name] = record.attempt
            if "error_action" not in record.metrics or action == "RETRY":
                self.failed_retry[name] = full_hash(record) or record.hash or ""
        if action in ("TERMINATE", "FINISH"):
            self.stop_action = True

    def _times(self, record: TaskRecord) -> None:
        if record.submit and (self.first_submit is None or record.submit < self.first_submit):
            self.first_submit = record.submit
        end = task_finished_at(record)
        if end and (self.last_complete is None or end > self.last_complete):
            self.last_complete = end

    def launch_status(self, history_status: str | None, trace_fields: list[str]) -> str:
        if history_status == "OK":
            return "completed"
        if history_status == "ERR":
            return "errored"
        pending = self.statuses["NEW"] or self.statuses["SUBMITTED"] or self.statuses["RUNNING"]
        if pending or self.tasks == 0:
            return "aborted"  # killed while tasks were pending, or before any finished
        if self.stop_action or (self.unresolved_failures and "error_action" not in trace_fields):
            return "errored"
        return "completed"
