"""Executions that died (kill -9, a lost node): settled by the next execution in the same directory,
or by `flowprov snakemake reconcile DIR`.

Snakemake locks a working directory while it runs, so when an execution starts there, none of
the earlier ones is still running. An earlier execution whose run is still `started` therefore
died: it becomes `aborted`, ending when its Snakemake log was last written, and the new
execution names it in `aux["resumes"]`. Earlier executions are found by the Workflow IDs in the
logs Snakemake keeps in `.snakemake/log/`. `reconcile` looks at every log of a directory, and
refuses while Snakemake's lock is there (a run may be going on; after a kill, `--unlock` first).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Any

from flowprov.core.tracking.recorder import Recorder, RunHandle, TransformSpec
from flowprov.integrations.snakemake.specs import log_paths, workflow_id_from_log

EARLIER_LOGS = 3  # the newest earlier logs looked at: a died execution is normally the last one


def earlier_logs(log: Any) -> list[Path]:
    """This directory's earlier Snakemake logs, newest first (not the current execution's)."""
    current = log_paths(log)
    folder = current[0].parent if current else Path(".snakemake") / "log"
    if not folder.is_dir():
        return []
    mine = {p.resolve() for p in current}
    logs = [p for p in folder.glob("*.snakemake.log") if p.resolve() not in mine]
    return sorted(logs, key=lambda p: p.name, reverse=True)[:EARLIER_LOGS]


def _transform_of(run: Any) -> TransformSpec:
    """The stored run's own transform, so settling it does not move it to today's Snakefile."""
    t = run.transform
    return TransformSpec(key=t.key, name=t.name, type=t.type, version=t.version_tag, source_code=t.source_code)


def _settle_logs(rec: Recorder, logs: list[Path], reference_type: str, by: str) -> list[str]:
    """Mark the executions of these logs still `started` as aborted; their uids."""
    settled = []
    for path in logs:
        workflow_id = workflow_id_from_log([path])
        run = rec.find_run(reference_type, workflow_id) if workflow_id else None
        if run is None or run.status != "started":
            continue
        ended = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        died = rec.open_run(
            _transform_of(run),
            reference=workflow_id,
            reference_type=reference_type,
            status="aborted",
            aux={"aborted_by": by, "finished_at_source": f"last write of its Snakemake log {path.name}"},
        )
        rec.close_run(died, "aborted", finished_at=max(ended, run.started_at or ended))
        record_finished_jobs(rec, died, run, path, ended)
        settled.append(run.uid)
    return settled


# -- the jobs a died execution finished ---------------------------------------------------------

_JOB_BLOCK = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):\n((?:    .*\n)+)", re.MULTILINE)
_FINISHED = re.compile(r"^Finished jobid: (\d+) ", re.MULTILINE)
SLACK = dt.timedelta(seconds=2)  # file times against the log's: coarse clocks, late flushes


def _logged_jobs(text: str) -> list[dict[str, Any]]:
    """The jobs a Snakemake log announced: rule, jobid, output, input, log and wildcards lines."""
    jobs = []
    for m in _JOB_BLOCK.finditer(text):
        fields = dict(line.strip().split(": ", 1) for line in m.group(2).splitlines() if ": " in line)
        if "jobid" in fields and fields["jobid"].isdigit():
            jobs.append({"rule": m.group(1), **fields})
    return jobs


def _metadata(workdir: Path, output: str) -> dict[str, Any] | None:
    """Snakemake's metadata record of an output file (`.snakemake/metadata/`, file persistence)."""
    b64 = urlsafe_b64encode(output.encode()).decode()
    parts = [b64[i : i + 254] for i in range(0, len(b64), 254)]
    path = workdir / ".snakemake" / "metadata" / os.path.join(*["@" + p for p in parts[:-1]], parts[-1])
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("incomplete") is False else None


def _when(stamp: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(stamp, dt.UTC) if isinstance(stamp, (int, float)) else None


def _split(value: str | None) -> list[str]:
    return [p for p in (value or "").split(", ") if p]


def _job_times(records: list[dict[str, Any]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    starts = [t for r in records if (t := _when(r.get("starttime"))) is not None]
    ends = [t for r in records if (t := _when(r.get("endtime"))) is not None]
    start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    return start, end if start is None or end is None or end >= start else None  # never an end before a start


def _in_window(record: dict[str, Any], begun: dt.datetime | None, ended: dt.datetime) -> bool:
    """The record was written by the died execution (not by an earlier or a later one)."""
    start = _when(record.get("starttime"))
    return start is not None and (begun is None or start >= begun - SLACK) and start <= ended + SLACK


def _settled_job(rec: Recorder, died: RunHandle, run: Any, job: dict[str, Any], proof: str) -> RunHandle:
    key = f"{run.transform.key}#{job['rule']}"
    spec = rec.find_transform(key, run.transform.version_tag) or TransformSpec(
        key=key, name=job["rule"], type="step", version=run.transform.version_tag, source_code=job.get("code")
    )
    wildcards = dict(w.split("=", 1) for w in _split(job.get("wildcards")) if "=" in w)
    name = f"{job['rule']} ({', '.join(f'{k}={v}' for k, v in wildcards.items())})" if wildcards else job["rule"]
    aux = {"jobid": int(job["jobid"]), "settled_from": proof}
    return rec.open_run(
        spec,
        reference=f"{run.reference}:{job['jobid']}",
        reference_type="snakemake_job_id",
        name=name,
        parent=died,
        params={"wildcards": wildcards},
        status="completed",
        aux=aux,
    )


def record_finished_jobs(rec: Recorder, died: RunHandle, run: Any, log: Path, ended: dt.datetime) -> int:
    """The jobs of a died execution that its log says finished, or whose outputs Snakemake's
    metadata records as complete from within its lifetime: runs of it, with the files and the
    times those records hold. Jobs recorded already (by the execution itself) are left alone."""
    workdir = log.parent.parent.parent
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    finished = set(_FINISHED.findall(text))
    count = 0
    for job in _logged_jobs(text):
        outputs = _split(job.get("output"))
        records = [
            r for o in outputs if (r := _metadata(workdir, o)) is not None and _in_window(r, run.started_at, ended)
        ]
        proven = job["jobid"] in finished or (outputs and len(records) == len(outputs))
        if not proven or rec.find_run("snakemake_job_id", f"{run.reference}:{job['jobid']}") is not None:
            continue
        proof = "its Snakemake log (Finished jobid)" if job["jobid"] in finished else ".snakemake/metadata"
        handle = _settled_job(rec, died, run, {**job, "code": (records[0].get("code") if records else None)}, proof)
        if records and records[0].get("shellcmd"):
            handle.aux["shellcmd"] = records[0]["shellcmd"]
        _settled_files(handle, workdir, job, records)
        started, end = _job_times(records)
        handle.started_at, handle.opened_at = started, None  # never the moment of settling
        _execution_begun_by(died, run, started)
        handle.aux["times"] = "Snakemake's metadata records (.snakemake/metadata)" if started else "unknown"
        rec.close_run(handle, "completed", finished_at=end, unknown_end="no metadata record with an end")
        count += 1
    return count


def _execution_begun_by(died: RunHandle, run: Any, job_start: dt.datetime | None) -> None:
    """A finished job's own start proves its execution had begun by then: the logger plugin writes
    the execution's start from Snakemake's logging thread, a moment after the first job may start."""
    known = died.started_at or run.started_at
    if job_start is not None and known is not None and job_start < known:
        died.started_at = job_start
        died.aux["started_at_source"] = "the start of its first finished job (.snakemake/metadata)"


def _settled_files(handle: RunHandle, workdir: Path, job: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Outputs (and logs) whose metadata is the died execution's; inputs as the record lists them."""
    inputs = (records[0].get("input") if records else None) or _split(job.get("input"))
    for rel in inputs:
        if (workdir / rel).is_file():
            handle.add_input(workdir / rel)
    if records:  # without a record of this execution, the files may hold a later job's bytes
        for rel in _split(job.get("output")) + _split(job.get("log")):
            if (workdir / rel).exists():
                handle.add_output(workdir / rel)


def _previous_execution(rec: Recorder, logs: list[Path], reference_type: str) -> Any:
    """The newest recorded execution among these logs (`--unlock` and dry runs write logs too)."""
    for path in logs:
        workflow_id = workflow_id_from_log([path])
        run = rec.find_run(reference_type, workflow_id) if workflow_id else None
        if run is not None:
            return run
    return None


def settle_died(rec: Recorder, execution: RunHandle, log: Any, reference_type: str) -> list[str]:
    """At the start of an execution: earlier ones left `started` here are aborted, and the new
    execution names them in `aux["resumes"]` (written with its own start)."""
    by = "settled by the next execution in this directory: it never ended"
    logs = earlier_logs(log)
    settled = _settle_logs(rec, logs, reference_type, by)
    if not settled:  # the execution just before, if `flowprov snakemake reconcile` settled it already
        previous = _previous_execution(rec, logs, reference_type)
        if previous is not None and previous.status == "aborted" and (previous.aux or {}).get("aborted_by"):
            settled = [previous.uid]
    if settled:
        execution.update_aux({"resumes": settled[0] if len(settled) == 1 else settled})
    return settled


def reconcile(directory: Path, store: Any = None) -> list[str]:
    """`flowprov snakemake reconcile`: executions of `directory` left `started` become aborted,
    unless Snakemake holds the directory's lock (then one may still be running: nothing is done)."""
    from flowprov.core.tracking.adapter_kit import ReferenceType

    snakemake_dir = directory / ".snakemake"
    locks = snakemake_dir / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        raise ValueError(
            f"{locks}: Snakemake holds this directory's lock (running, or killed: `snakemake --unlock` "
            "releases it); nothing settled"
        )
    logs = sorted((snakemake_dir / "log").glob("*.snakemake.log"), key=lambda p: p.name, reverse=True)
    rec = Recorder(store, flush_every=10**12)
    settled = _settle_logs(rec, logs, ReferenceType.SNAKEMAKE_WORKFLOW, "flowprov snakemake reconcile: it never ended")
    rec.flush()
    return settled
