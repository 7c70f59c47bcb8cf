"""Snakemake's job events, as they happen: every attempt's start, end, status and error, and the
temporary files hashed while they still exist.

Fed by the logger plugin (its `emit`) or, without it, by a logging handler the hooks attach to
Snakemake's logger: the same events either way. The jobs themselves are recorded from these notes
when the execution ends (`recording.py`).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from itertools import chain
from pathlib import Path
from typing import Any

from flowprov.core.tracking.recorder import FileSpec, Recorder

_attempts: dict[int, list[dict[str, Any]]] = {}
_temp_files: dict[str, FileSpec] = {}  # resolved path -> hashed before Snakemake deleted the file
_jobs_by_id: dict[int, Any] = {}
# the scheduler's ids, from "Submitted job N / group job UUID with external jobid 'X'"
_external_ids: dict[str, str] = {}  # str(jobid) or a group job's id -> the scheduler's id
_SUBMITTED = re.compile(r"Submitted (?:group job|job) (\S+) with external jobid '([^']*)'")


def reset() -> None:
    """A new execution in this process (Snakemake's API can run several)."""
    _attempts.clear()
    _temp_files.clear()
    _jobs_by_id.clear()
    _external_ids.clear()


def attempts() -> dict[int, list[dict[str, Any]]]:
    return _attempts


def external_jobid(workflow: Any, job: Any) -> str | None:
    """The id a cluster executor's scheduler gave the job, or its group job (None for local jobs)."""
    found = _external_ids.get(str(job.jobid))
    if found is None and _external_ids and getattr(workflow, "dag", None) is not None:
        group = workflow.dag.get_job_group(job)
        found = _external_ids.get(str(group.jobid)) if group is not None else None
    return found


def temp_file(path: Path) -> FileSpec | None:
    """The hash of a temporary file taken when its job finished (None if not one)."""
    return _temp_files.get(str(path.resolve()))


def current_workflow() -> Any:
    return getattr(sys.modules.get("snakemake.workflow"), "workflow", None)


def note_event(record: Any, recorder: Recorder | None) -> None:
    """One Snakemake log record into the attempt history (temp files hashed through `recorder`)."""
    event = str(getattr(record, "event", "") or "").lower()
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    if event.endswith("job_info") and getattr(record, "jobid", None) is not None:
        _attempts.setdefault(int(record.jobid), []).append(
            {"start": when, "end": None, "status": "started", "error": None}
        )
    elif event.endswith("job_finished") and getattr(record, "job_id", None) is not None:
        _end_attempt(int(record.job_id), when, "completed", None)
        if recorder is not None:
            _hash_temp_files(int(record.job_id), recorder)
    elif event.endswith("job_error") and getattr(record, "jobid", None) is not None:
        _end_attempt(int(record.jobid), when, "errored", str(getattr(record, "msg", "") or "") or None)
    elif not event and "external jobid" in str(getattr(record, "msg", "")):
        if m := _SUBMITTED.search(str(record.msg)):
            _external_ids[m.group(1)] = m.group(2)


def _end_attempt(jobid: int, when: dt.datetime, status: str, error: str | None) -> None:
    found = _attempts.get(jobid)
    if found and found[-1]["end"] is None:
        found[-1].update(end=when, status=status, error=error)


def _job(jobid: int) -> Any:
    if jobid not in _jobs_by_id:
        dag = getattr(current_workflow(), "dag", None)
        _jobs_by_id.update({j.jobid: j for j in (dag.jobs if dag is not None else ())})
    return _jobs_by_id.get(jobid)


def _hash_temp_files(jobid: int, recorder: Recorder) -> None:
    """Snakemake logs a job's end before it deletes the `temp()` files no job needs any more:
    hash them now, so the job that wrote and the jobs that read them still name their content."""
    from snakemake.io import is_flagged  # type: ignore[import-untyped]

    job = _job(jobid)
    if job is None:
        return
    for path in chain(job.input, job.output):
        if is_flagged(path, "temp") and str(Path(path).resolve()) not in _temp_files and Path(path).exists():
            _temp_files[str(Path(path).resolve())] = recorder.file_spec(Path(path))


def attach_listener(recorder: Any) -> None:
    """Without the plugin, the hooks listen to Snakemake's logger themselves (the same events).

    `recorder` is a callable giving the execution's Recorder (or None) at the time of an event.
    """
    import logging

    class _Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                note_event(record, recorder())
            except Exception:  # never break Snakemake's logging
                pass

    logger = logging.getLogger("snakemake.logging")
    if not any(type(h).__name__ == "_Listener" for h in logger.handlers):
        logger.addHandler(_Listener(level=logging.DEBUG))
