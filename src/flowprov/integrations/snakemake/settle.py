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
    return TransformSpec(key=t.key, name=t.name, type=t.type, version=t.version, source_code=t.source_code)


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
        settled.append(run.uid)
    return settled


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
