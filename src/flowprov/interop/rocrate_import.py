"""Read Workflow Run Crates (directory or zip) into ImportedRuns.

Every `CreateAction` is a run. The action whose instrument is the crate's main workflow is the
workflow run; an `OrganizeAction` whose result is that run lists `ControlAction`s whose objects are
the step runs (their parent). Instruments become transforms (the main workflow a pipeline, other
tools steps), `PropertyValue`s in an action's object its params, `File` / `Dataset` entities in its
object and result its inputs and outputs, `resourceUsage` PropertyValues its metrics (in `aux`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from flowprov.interop.importing import ImportedFile, ImportedRun, InteropError, name_hash, parse_time
from flowprov.interop.rocrate import NOTE_DESCRIPTION, REFERENCE_TYPE, TOOL_REFERENCE_TYPE

STATUS = {"CompletedActionStatus": "completed", "FailedActionStatus": "errored", "ActiveActionStatus": "started"}


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else ([] if value is None else [value])
    return [i["@id"] if isinstance(i, dict) else str(i) for i in items if isinstance(i, (dict, str))]


def _types(entity: dict[str, Any]) -> list[str]:
    value = entity.get("@type")
    return value if isinstance(value, list) else [str(value)]


class Crate:
    """The metadata of one crate and a way to read its files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.suffix == ".zip" else None
        try:
            text = self.read("ro-crate-metadata.json")
        except (KeyError, FileNotFoundError):
            raise InteropError(f"{path}: no ro-crate-metadata.json in the crate") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InteropError(f"{path}/ro-crate-metadata.json:{exc.lineno}: not valid JSON: {exc.msg}") from None
        graph = data.get("@graph") if isinstance(data, dict) else None
        if not isinstance(graph, list):
            raise InteropError(f"{path}/ro-crate-metadata.json: element '@graph' is missing")
        self.entities = {e["@id"]: e for e in graph if isinstance(e, dict) and "@id" in e}
        root = self.entities.get("./") or {}
        self.main = (_ids(root.get("mainEntity")) or [""])[0]

    def read(self, inner: str) -> str:
        if self.zip is not None:
            return self.zip.read(inner).decode()
        return (self.path / inner).read_text()

    def where(self, entity_id: str) -> str:
        return f"{self.path}/ro-crate-metadata.json: entity {entity_id}"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entities.values() if kind in _types(e)]


def _file(crate: Crate, entity_id: str) -> ImportedFile | None:
    entity = crate.entities.get(entity_id, {"@id": entity_id})
    types = _types(entity)
    if "File" not in types and "Dataset" not in types and entity_id in crate.entities:
        return None
    location = entity_id if "://" in entity_id or entity_id.startswith("file:") else None
    if location is None:  # a file inside the crate
        base = crate.path.resolve()
        location = (base / entity_id).as_uri() if crate.zip is None else f"{base.as_uri()}!/{entity_id}"
    identifier = entity.get("identifier")
    size = entity.get("contentSize")
    digest = str(identifier) if isinstance(identifier, str) and len(identifier) == 22 else None
    return ImportedFile(
        path=location.rstrip("/"),
        hash=digest or name_hash(str(entity.get("sha256") or location)),
        hash_type="md5" if digest else ("sha256-name" if entity.get("sha256") else "name"),
        size=int(str(size)) if str(size or "").isdigit() else 0,
        n_files=0 if "Dataset" in types else None,
        key=entity.get("name"),
    )


def _transform(crate: Crate, run: ImportedRun, instrument_id: str) -> None:
    tool = crate.entities.get(instrument_id, {})
    run.transform_name = tool.get("name")
    run.transform_key = str(tool.get("alternateName") or tool.get("name") or instrument_id)
    run.transform_version = tool.get("version") or tool.get("softwareVersion")
    if instrument_id == crate.main:
        inside = "://" not in instrument_id and not instrument_id.startswith("#")
        if inside and tool.get("description") != NOTE_DESCRIPTION:
            try:
                run.source_code = crate.read(instrument_id)
            except (KeyError, OSError):
                run.source_code = None
    else:
        run.transform_type = "step"
        run.transform_reference, run.transform_reference_type = instrument_id, TOOL_REFERENCE_TYPE


def _has_time(action: dict[str, Any] | None) -> bool:
    return bool(action and (action.get("startTime") or action.get("endTime")))


def _run(crate: Crate, action: dict[str, Any], workflow: dict[str, Any] | None = None) -> ImportedRun:
    """The run of a CreateAction. A step's action without times (nf-prov writes none for tasks)
    starts when its workflow run did, and says so in aux; any other action needs a time."""
    where = crate.where(action["@id"])
    timed = action if _has_time(action) else workflow if _has_time(workflow) else None
    if timed is None:
        raise InteropError(f"{where}: element 'startTime' is missing")
    status = (_ids(action.get("actionStatus")) or ["http://schema.org/CompletedActionStatus"])[0]
    run = ImportedRun(
        reference=action["@id"],
        reference_type=REFERENCE_TYPE,
        transform_key=action["@id"],
        name=action.get("name"),
        status=STATUS.get(status.rsplit("/", 1)[-1], "completed"),
        started_at=parse_time(timed.get("startTime") or timed["endTime"], f"{crate.where(timed['@id'])}: startTime"),
        finished_at=parse_time(action["endTime"], f"{where}: endTime") if action.get("endTime") else None,
    )
    if timed is not action:
        run.aux["times_unknown"] = "the crate gives this step no start or end time; its workflow run's start stands in"
    instrument = (_ids(action.get("instrument")) or [""])[0]
    if not instrument:
        raise InteropError(f"{where}: element 'instrument' is missing")
    _transform(crate, run, instrument)
    if action.get("error"):
        run.aux["error"] = action["error"]
    for role, key in (("in", "object"), ("out", "result")):
        for item_id in _ids(action.get(key)):
            entity = crate.entities.get(item_id, {})
            if "PropertyValue" in _types(entity) and role == "in":
                run.params[str(entity.get("name"))] = _param_value(crate, entity)
                continue
            found = _file(crate, item_id)
            if found is not None:
                (run.inputs if role == "in" else run.outputs).append(found)
    for usage_id in _ids(action.get("resourceUsage")):
        usage = crate.entities.get(usage_id, {})
        if usage.get("propertyID"):
            run.aux[str(usage["propertyID"])] = usage.get("value")
    return run


def _param_value(crate: Crate, value: dict[str, Any]) -> Any:
    formal = crate.entities.get((_ids(value.get("exampleOfWork")) or [""])[0], {})
    raw = value.get("value")
    if formal.get("additionalType") == "PropertyValue" and isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _workflow_of_steps(crate: Crate) -> dict[str, str]:
    """step action id -> the workflow action it ran in (an OrganizeAction's result, through its ControlActions)."""
    parents: dict[str, str] = {}
    for organize in crate.of_type("OrganizeAction"):
        for top in _ids(organize.get("result")):
            for control_id in _ids(organize.get("object")):
                for step in _ids(crate.entities.get(control_id, {}).get("object")):
                    parents.setdefault(step, top)
    return parents


def read_crate(path: Path) -> list[ImportedRun]:
    crate = Crate(path)
    actions = {a["@id"]: a for a in crate.of_type("CreateAction")}
    workflow_of = _workflow_of_steps(crate)
    runs = {i: _run(crate, a, actions.get(workflow_of.get(i, ""))) for i, a in actions.items()}
    for organize in crate.of_type("OrganizeAction"):
        top_ids = _ids(organize.get("result"))
        engine = crate.entities.get((_ids(organize.get("instrument")) or [""])[0], {})
        for top in top_ids:
            if top in runs and engine.get("name"):
                version = engine.get("softwareVersion") or engine.get("version")
                runs[top].aux["engine"] = {"name": engine["name"], **({"version": version} if version else {})}
            for control_id in _ids(organize.get("object")):
                for step in _ids(crate.entities.get(control_id, {}).get("object")):
                    if step == f"{top}-process":  # flowprov's one-step form of a run without steps
                        runs.pop(step, None)
                    elif step in runs:
                        runs[step].parent = top
    return sorted(runs.values(), key=lambda r: (r.parent is not None, r.started_at))


def read_runs(paths: list[Path]) -> list[ImportedRun]:
    runs: list[ImportedRun] = []
    for path in paths:
        runs += read_crate(path)
    return runs
