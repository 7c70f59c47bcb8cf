"""Read PROV-JSON (and PROV-N, PROV-JSONLD, through prov) documents into ImportedRuns: activities are runs, `prov:Plan` entities transforms.

The `prov` package parses the file first (a document it cannot read is refused); the records are
then read from the JSON itself: `used` → inputs, `wasGeneratedBy` → outputs, `wasInformedBy` →
the parent run, `wasAssociatedWith`'s plan → the transform. Attributes in the `flowprov`
namespace (status, params, hashes) are read back as the export wrote them; other producers'
documents give runs with times and files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowprov.interop.importing import ImportedFile, ImportedRun, InteropError, name_hash, parse_time
from flowprov.interop.prov import PLAN_REFERENCE_TYPE, REFERENCE_TYPE

P = "flowprov:"


def _value(attrs: dict[str, Any], name: str) -> Any:
    value = attrs.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and "$" in value:
        value = value["$"]
    return value


def _load(path: Path) -> dict[str, Any]:
    from prov.model import ProvDocument

    text = path.read_text()
    if text.lstrip().startswith("document") or '"@context"' in text[:2000]:
        # PROV-N or PROV-JSONLD: let prov read it and hand over its PROV-JSON form
        kind = "provn" if text.lstrip().startswith("document") else "jsonld"
        try:
            text = str(ProvDocument.deserialize(content=text, format=kind).serialize(format="json"))
        except Exception as exc:  # prov raises several types for malformed documents
            raise InteropError(
                f"{path}: not a {kind.upper()} document prov can read: {str(exc).splitlines()[0]}"
            ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InteropError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InteropError(f"{path}: a PROV-JSON document is a JSON object")
    try:
        ProvDocument.deserialize(content=text, format="json")
    except Exception as exc:  # prov raises several types for malformed documents
        raise InteropError(f"{path}: not a PROV-JSON document prov can read: {str(exc).splitlines()[0]}") from None
    return data


def _file(entity_id: str, attrs: dict[str, Any]) -> ImportedFile:
    location = _value(attrs, "prov:location") or entity_id
    digest = _value(attrs, P + "hash")
    size, n_files = _value(attrs, P + "size"), _value(attrs, P + "n_files")
    return ImportedFile(
        path=str(location),
        hash=str(digest) if digest else name_hash(str(location)),
        hash_type=str(_value(attrs, P + "hash_type") or "md5") if digest else "name",
        size=int(size) if size is not None else 0,
        n_files=int(n_files) if n_files is not None else None,
        key=_value(attrs, "prov:label"),
    )


def _run(path: Path, activity_id: str, attrs: dict[str, Any]) -> ImportedRun:
    where = f"{path}: activity {activity_id}"
    start = _value(attrs, "prov:startTime")
    if not start:
        raise InteropError(f"{where}: element 'prov:startTime' is missing")
    end = _value(attrs, "prov:endTime")
    run = ImportedRun(
        reference=activity_id,
        reference_type=REFERENCE_TYPE,
        transform_key=activity_id,
        name=_value(attrs, "prov:label"),
        status=str(_value(attrs, P + "status") or ("completed" if end else "started")),
        started_at=parse_time(start, f"{where}: prov:startTime"),
        finished_at=parse_time(end, f"{where}: prov:endTime") if end else None,
    )
    for name in attrs:
        if name.startswith(P + "param_"):
            raw = _value(attrs, name)
            try:
                run.params[name[len(P + "param_") :]] = json.loads(raw)
            except (TypeError, ValueError):
                run.params[name[len(P + "param_") :]] = raw
    if _value(attrs, P + "reference"):
        run.aux["prov_source_reference"] = [_value(attrs, P + "reference_type"), _value(attrs, P + "reference")]
    if _value(attrs, P + "error"):
        run.aux["error"] = _value(attrs, P + "error")
    return run


def _relations(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in (data.get(kind) or {}).values() if isinstance(r, dict)]


def read_document(path: Path) -> list[ImportedRun]:
    data = _load(path)
    entities = {k: v for k, v in (data.get("entity") or {}).items() if isinstance(v, dict)}
    runs = {k: _run(path, k, v) for k, v in (data.get("activity") or {}).items() if isinstance(v, dict)}
    for rel in _relations(data, "wasAssociatedWith"):
        run, plan = runs.get(rel.get("prov:activity", "")), rel.get("prov:plan")
        if run is not None and plan in entities:
            attrs = entities[plan]
            run.transform_key = str(_value(attrs, P + "key") or plan)
            run.transform_type = str(_value(attrs, P + "transform_type") or "pipeline")
            run.transform_name = _value(attrs, "prov:label")
            run.transform_version = _value(attrs, P + "version")
            run.transform_reference, run.transform_reference_type = plan, PLAN_REFERENCE_TYPE
    for rel in _relations(data, "wasInformedBy"):
        if rel.get("prov:informed") in runs:
            runs[rel["prov:informed"]].parent = rel.get("prov:informant")
    for rel in _relations(data, "used"):
        run, entity = runs.get(rel.get("prov:activity", "")), rel.get("prov:entity", "")
        if run is not None:
            run.inputs.append(_file(entity, entities.get(entity, {})))
    for rel in _relations(data, "wasGeneratedBy"):
        run, entity = runs.get(rel.get("prov:activity", "")), rel.get("prov:entity", "")
        if run is not None:
            run.outputs.append(_file(entity, entities.get(entity, {})))
    return _parents_first(list(runs.values()))


def _parents_first(runs: list[ImportedRun]) -> list[ImportedRun]:
    by_ref = {r.reference: r for r in runs}

    def depth(run: ImportedRun) -> int:
        n, seen = 0, {run.reference}
        while run.parent in by_ref and run.parent not in seen:
            seen.add(run.parent or "")
            run, n = by_ref[run.parent or ""], n + 1
        return n

    return sorted(runs, key=lambda r: (depth(r), r.started_at))


def read_runs(paths: list[Path]) -> list[ImportedRun]:
    runs: list[ImportedRun] = []
    for path in paths:
        runs += read_document(path)
    return runs
