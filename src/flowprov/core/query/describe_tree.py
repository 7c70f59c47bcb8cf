"""`record.describe()`: a short text tree of a record's fields, relations and lineage (lamindb's)."""

from __future__ import annotations

from typing import Any

EMPTY: tuple[Any, ...] = (None, "", [], {})


def describe_record(record: Any, children: int = 20) -> dict[str, Any]:
    """The plain-data description of a Run, Transform or Artifact (the CLI's JSON shape); other
    records by their fields."""
    from flowprov.core.query import describe

    kind = type(record).__name__
    if kind == "Run":
        return describe.describe_run(record, children=children)
    if kind == "Transform":
        out = describe.describe_transform(record)
        out["runs"] = record.runs.count()
        return out
    if kind == "Artifact":
        out = describe.describe_artifact(record)
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
