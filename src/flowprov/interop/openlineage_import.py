"""Read OpenLineage run events (JSON Lines, a JSON array, or one event per file) into ImportedRuns.

Events are grouped by `run.runId`: the START (else the first) event gives the start time, a
COMPLETE / FAIL / ABORT event the end and the status, datasets are merged over all events. A
step job `<parent job>.<step>` under a parent run becomes the step transform `<parent key>#<step>`,
the inverse of the export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowprov.interop.importing import ImportedFile, ImportedRun, InteropError, name_hash, parse_time
from flowprov.interop.selection import ENGINES

REFERENCE_TYPE = "openlineage_run_id"
STATUS = {"COMPLETE": "completed", "FAIL": "errored", "ABORT": "aborted"}


def read_events(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, event) pairs; `where` is `file:line` for JSON Lines, else the file (and index)."""
    text = path.read_text()
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            return [(f"{path}[{i}]", e) for i, e in enumerate(json.loads(text))]
        if stripped.startswith("{") and "\n{" not in stripped.rstrip():
            return [(str(path), json.loads(text))]
    except json.JSONDecodeError as exc:
        raise InteropError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InteropError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
    return events


def _require(event: Any, dotted: str, where: str) -> Any:
    value = event
    for part in dotted.split("."):
        if not isinstance(value, dict) or value.get(part) in (None, ""):
            raise InteropError(f"{where}: element '{dotted}' is missing")
        value = value[part]
    return value


def _dataset(d: dict[str, Any], role: str, where: str) -> ImportedFile:
    namespace, name = _require(d, "namespace", where), _require(d, "name", where)
    if namespace == "file":
        path = Path(name).as_uri() if name.startswith("/") else f"file:{name}"
    elif "://" in namespace:
        path = f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    else:  # a namespace that is only a scheme (bigquery): the name is the location
        path = f"{namespace}://{name}"
    version = (d.get("facets") or {}).get("version", {}).get("datasetVersion")
    stats = (d.get("inputFacets" if role == "in" else "outputFacets") or {}).get(
        "inputStatistics" if role == "in" else "outputStatistics", {}
    )
    size, count = stats.get("size"), stats.get("fileCount")
    return ImportedFile(
        path=path,
        hash=str(version) if version else name_hash(path),
        hash_type="md5" if version else "name",
        size=int(size) if isinstance(size, int) else 0,
        n_files=int(count) if isinstance(count, int) else None,
    )


def _merge(group: list[tuple[str, dict[str, Any]]]) -> ImportedRun:
    where, first = group[0]
    run_id = _require(first, "run.runId", where)
    job = f"{_require(first, 'job.namespace', where)}/{_require(first, 'job.name', where)}"
    run = ImportedRun(reference=run_id, reference_type=REFERENCE_TYPE, transform_key=first["job"]["name"])
    run.aux["openlineage_job"] = job
    run_facets: dict[str, Any] = {}
    job_facets: dict[str, Any] = {}
    inputs: dict[str, ImportedFile] = {}
    outputs: dict[str, ImportedFile] = {}
    starts, times = [], []
    for where, event in group:
        when = parse_time(_require(event, "eventTime", where), f"{where}: eventTime")
        kind = event.get("eventType") or "OTHER"
        times.append(when)
        if kind == "START":
            starts.append(when)
        if kind in STATUS:
            run.status, run.finished_at = STATUS[kind], when
        run_facets.update(event["run"].get("facets") or {})
        job_facets.update(event["job"].get("facets") or {})
        for d in event.get("inputs") or []:
            inputs[f"{d.get('namespace')}/{d.get('name')}"] = _dataset(d, "in", f"{where}: inputs")
        for d in event.get("outputs") or []:
            outputs[f"{d.get('namespace')}/{d.get('name')}"] = _dataset(d, "out", f"{where}: outputs")
    run.started_at = min(starts or times)
    run.inputs, run.outputs = list(inputs.values()), list(outputs.values())
    _apply_facets(run, run_facets, job_facets)
    return run


def _apply_facets(run: ImportedRun, run_facets: dict[str, Any], job_facets: dict[str, Any]) -> None:
    parent = run_facets.get("parent") or {}
    run.parent = (parent.get("run") or {}).get("runId")
    run.aux["openlineage_parent_job"] = (parent.get("job") or {}).get("name")
    for item in (run_facets.get("executionParameters") or {}).get("parameters") or []:
        try:
            run.params[item["key"]] = json.loads(item["value"])
        except (KeyError, TypeError, ValueError):
            if "key" in item:
                run.params[item["key"]] = item.get("value")
    engine = run_facets.get("processing_engine") or {}
    job_type = job_facets.get("jobType") or {}
    integration = str(job_type.get("integration") or "")
    name = engine.get("name") or {v.upper(): v for v in [*ENGINES.values(), "flowprov"]}.get(integration, integration)
    if name:
        run.aux["engine"] = {"name": name, **({"version": engine["version"]} if engine.get("version") else {})}
    if job_type.get("jobType") == "TASK":
        run.transform_type = "step"
    source = job_facets.get("sourceCode") or {}
    run.source_code = source.get("sourceCode")
    location = job_facets.get("sourceCodeLocation") or {}
    if location.get("url"):
        run.aux["git"] = {
            "remote": location["url"],
            **({"commit": location["version"]} if location.get("version") else {}),
        }
    error = run_facets.get("errorMessage") or {}
    if error.get("message"):
        run.aux["error"] = error["message"]
        if error.get("stackTrace"):
            run.aux["traceback"] = error["stackTrace"]


def read_runs(paths: list[Path]) -> list[ImportedRun]:
    """The runs of all files, parents before children; step keys follow their parent's key."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in paths:
        for where, event in read_events(path):
            if not isinstance(event, dict):
                raise InteropError(f"{where}: an event is a JSON object")
            groups.setdefault(str(_require(event, "run.runId", where)), []).append((where, event))
            _require(event, "job.name", where)
    runs = {run_id: _merge(group) for run_id, group in groups.items()}
    ordered = sorted(runs.values(), key=lambda r: (_depth(r, runs), r.started_at))
    for run in ordered:  # parents first, so a parent's key is final before its children's
        parent = runs.get(run.parent or "")
        parent_job = run.aux.pop("openlineage_parent_job", None)
        if parent is not None and parent_job and run.transform_key.startswith(parent_job + "."):
            step = run.transform_key[len(parent_job) + 1 :]
            run.transform_key = f"{parent.transform_key.split('#', 1)[0]}#{step}"
            run.transform_type = "step"
        run.aux.pop("openlineage_job", None)
    return ordered


def _depth(run: ImportedRun, runs: dict[str, ImportedRun]) -> int:
    depth, seen = 0, {run.reference}
    while run.parent in runs and run.parent not in seen:
        seen.add(run.parent or "")
        run, depth = runs[run.parent or ""], depth + 1
    return depth
