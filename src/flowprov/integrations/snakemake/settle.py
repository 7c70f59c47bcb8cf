"""Executions that died (kill -9, a lost node): settled by the next execution in the same directory.

Snakemake locks a working directory while it runs, so when an execution starts there, none of
the earlier ones is still running. An earlier execution whose run is still `started` therefore
died: it becomes `aborted`, ending when its Snakemake log was last written, and the new
execution names it in `aux["resumes"]`. Earlier executions are found by the Workflow IDs in the
logs Snakemake keeps in `.snakemake/log/`.
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


def settle_died(rec: Recorder, execution: RunHandle, log: Any, reference_type: str) -> list[str]:
    """Mark earlier executions left `started` as aborted; their uids (also in `aux["resumes"]`)."""
    settled = []
    for path in earlier_logs(log):
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
            aux={
                "aborted_by": "settled by the next execution in this directory: it never ended",
                "finished_at_source": f"last write of its Snakemake log {path.name}",
            },
        )
        rec.close_run(died, "aborted", finished_at=max(ended, run.started_at or ended))
        settled.append(run.uid)
    if settled:
        execution.update_aux({"resumes": settled[0] if len(settled) == 1 else settled})
    return settled
