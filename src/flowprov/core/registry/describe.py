"""Plain-data descriptions of records: the CLI's JSON output and tables, the UI's pages, the
records of a lineage's JSON form, and `record.describe()`'s text tree (lamindb's).

They read a record's relations (params, links, child runs) through the registry, so they live
here, above the query layer; the CLI and the UI only print or render them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from flowprov.core.registry.run import STATUS_NAMES

if TYPE_CHECKING:
    from flowprov.core.registry import Artifact, Run, Transform

EMPTY: tuple[Any, ...] = (None, "", [], {})


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def describe_transform(t: Transform) -> dict[str, Any]:
    return {
        "uid": t.uid,
        "key": t.key,
        "name": t.name,
        "version": t.version_tag,
        "type": t.type,
        "hash": t.hash,
        "is_latest": t.is_latest,
        "reference": t.reference,
        "reference_type": t.reference_type,
        "created_at": _iso(t.created_at),
    }


def describe_artifact(a: Artifact) -> dict[str, Any]:
    return {
        "uid": a.uid,
        "key": a.key,
        "path": a.uri,
        "suffix": a.suffix,
        "size": a.size,
        "hash": a.hash,
        "hash_type": a._hash_type,
        "n_files": a.n_files,
        "is_latest": a.is_latest,
        "created_at": _iso(a.created_at),
    }


def describe_run_row(r: Run) -> dict[str, Any]:
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


def describe_run(r: Run, children: int | None = 20) -> dict[str, Any]:
    """A run with its transform, params, inputs, outputs, environment, a summary of its child runs
    and the first `children` of them (None: all, which can be millions: stream `child_runs(r)`)."""
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
            "child_runs_summary": summarize_child_runs(r),
            "child_runs": [describe_run_row(c) for c in child_runs(r)[:children]] if children else [],
        }
    )
    return out


def child_runs(r: Any) -> Any:
    """The run's child runs in the order they were recorded (a QuerySet: slice or iterate it)."""
    return r.initiated_runs.all().select_related("transform").order_by("id")


def summarize_child_runs(r: Any) -> dict[str, Any]:
    """Counts of child runs by status and by step, in two GROUP BY queries whatever their number."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import object_session

    run_model = type(r)
    transform_model = run_model.transform.property.mapper.class_
    session = object_session(r) or run_model.filter().store.session
    mine = run_model.initiated_by_run_id == r.id
    by_status = session.execute(
        select(run_model._status_code, func.count()).where(mine).group_by(run_model._status_code)
    ).all()
    by_step = session.execute(
        select(transform_model.key, transform_model.name, func.count())
        .select_from(run_model)
        .join(transform_model, run_model.transform_id == transform_model.id)
        .where(mine)
        .group_by(transform_model.key, transform_model.name)
        .order_by(func.count().desc())
    ).all()
    return {
        "total": sum(n for _, n in by_status),
        "by_status": {STATUS_NAMES[code]: n for code, n in sorted(by_status)},
        "by_step": {key or name: n for key, name, n in by_step},
    }


# -- record.describe() --------------------------------------------------------------------------


def describe_record(record: Any, children: int = 20) -> dict[str, Any]:
    """The plain-data description of a Run, Transform or Artifact (the CLI's JSON shape)."""
    kind = type(record).__name__
    if kind == "Run":
        return describe_run(record, children=children)
    if kind == "Transform":
        out = describe_transform(record)
        out["runs"] = record.runs.count()
        return out
    if kind == "Artifact":
        out = describe_artifact(record)
        out["created_by_run"] = record.run.uid if record.run_id else None
        out["transform"] = (record.run.transform.key or record.run.transform.name) if record.run_id else None
        out["input_of_runs"] = [r.uid for r in record.input_of_runs.all().order_by("id")]
        return out
    # Collection, Storage, Space, User: their own fields (lamindb describes every record)
    return {a.key: getattr(record, a.key) for a in record.__mapper__.column_attrs if a.key != "id" and a.key[0] != "_"}


def tree_lines(data: dict[str, Any], indent: str = "") -> list[str]:
    """`key: value` lines, nested dicts and lists of dicts indented under their key; empty values left out."""
    lines: list[str] = []
    for key, value in data.items():
        if value in EMPTY:
            continue
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += tree_lines(value, indent + "  ")
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            lines.append(f"{indent}{key}: ({len(value)})")
            for item in value:
                label = item.get("key") or item.get("path") or item.get("name") or item.get("uid")
                lines.append(f"{indent}  - {label}")
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines


def describe_text(record: Any) -> str:
    head = f"{type(record).__name__} {record.uid}"
    return "\n".join([head, *tree_lines({k: v for k, v in describe_record(record).items() if k != "uid"}, "  ")])
