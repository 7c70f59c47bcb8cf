"""Plain-data descriptions of records, shared by the CLI's JSON output and its tables."""

from __future__ import annotations

import datetime as dt
from typing import Any


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def describe_transform(t: Any) -> dict[str, Any]:
    return {
        "uid": t.uid,
        "key": t.key,
        "name": t.name,
        "version": t.version,
        "type": t.type,
        "hash": t.hash,
        "is_latest": t.is_latest,
        "reference": t.reference,
        "reference_type": t.reference_type,
        "created_at": _iso(t.created_at),
    }


def describe_artifact(a: Any) -> dict[str, Any]:
    return {
        "uid": a.uid,
        "key": a.key,
        "path": a.path,
        "suffix": a.suffix,
        "size": a.size,
        "hash": a.hash,
        "hash_type": a._hash_type,
        "n_files": a.n_files,
        "is_latest": a.is_latest,
        "created_at": _iso(a.created_at),
    }


def describe_run_row(r: Any) -> dict[str, Any]:
    """The short form used in run listings."""
    return {
        "uid": r.uid,
        "name": r.name,
        "status": r.status,
        "reference": r.reference,
        "reference_type": r.reference_type,
        "transform": r.transform.key or r.transform.name,
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
    }


def describe_run(r: Any, max_children: int | None = None) -> dict[str, Any]:
    """A run with its transform, params, inputs, outputs, child runs and environment.

    With `max_children`, only the first that many child runs are listed (`child_count` has all).
    """
    children = r.initiated_runs.all().select_related("transform").order_by("id")
    out = describe_run_row(r)
    out.update(
        {
            "transform": describe_transform(r.transform),
            "params": r.params.get_values(),
            "aux": r.aux or {},
            "initiated_by_run": r.initiated_by_run.uid if r.initiated_by_run_id else None,
            "environment": describe_artifact(r.environment) if r.environment_id else None,
            "report": describe_artifact(r.report) if r.report_id else None,
            "inputs": [describe_artifact(a) for a in r.input_artifacts.all().order_by("id")],
            "outputs": [describe_artifact(a) for a in r.output_artifacts.all().order_by("id")],
            "input_collections": [c.key for c in r.input_collections.all()],
            "output_collections": [c.key for c in r.output_collections.all()],
            "child_runs": [
                describe_run_row(c) for c in (children if max_children is None else children[:max_children])
            ],
        }
    )
    if max_children is not None:
        out["child_count"] = len(out["child_runs"]) if len(out["child_runs"]) < max_children else children.count()
    return out
