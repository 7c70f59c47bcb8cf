"""Workflow Run RO-Crate: a Provenance Run Crate 0.5 on RO-Crate 1.1, written as JSON-LD.

ro-crate-py is not used: its bundled 1.1 context is outdated (the validator reports false failures
with it). Layout, following https://w3id.org/ro/wfrun/provenance/0.5:

- the pipeline transform is the main entity, `File` + `SoftwareSourceCode` + `ComputationalWorkflow`
  + `HowTo`, its source written into the crate; each step transform is a `SoftwareApplication`
  in its `hasPart`, with a `HowToStep` in its `step`;
- the top run is a `CreateAction` (instrument: the workflow), an `OrganizeAction` for the engine
  links it to one `ControlAction` per step run, each of which points to the step run's own
  `CreateAction` (instrument: the step's tool);
- params are `FormalParameter`s of the workflow with one `PropertyValue` per run; files are `File`
  (directories `Dataset`) entities with `sha256`, `contentSize`, `encodingFormat`; numeric task
  metrics are `resourceUsage` PropertyValues with a `propertyID`.

Nothing unknown is written: an entity simply lacks the property (never `null`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

from flowprov.interop.selection import ArtifactView, RunView, Selection, TransformView, engine_of

# sha256 is not a term of the 1.1 context; Workflow Run Crates define it in their own vocabulary
WFRUN = "https://w3id.org/ro/terms/workflow-run#"
CONTEXT = [
    "https://w3id.org/ro/crate/1.1/context",
    {"sha256": WFRUN + "sha256", "resourceUsage": WFRUN + "resourceUsage"},
]
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/ro/wfrun/provenance/0.5": "Provenance Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
LANGUAGES = {
    "Snakemake": (
        "https://w3id.org/workflowhub/workflow-ro-crate#snakemake",
        "Snakemake",
        "https://snakemake.github.io",
    ),
    "Nextflow": ("https://w3id.org/workflowhub/workflow-ro-crate#nextflow", "Nextflow", "https://www.nextflow.io/"),
}
PYTHON = ("https://www.python.org/", "Python", "https://www.python.org/")
STATUS = {"completed": "http://schema.org/CompletedActionStatus", "errored": "http://schema.org/FailedActionStatus"}
STATUS["aborted"] = STATUS["errored"]
ENGINE_URLS = {
    "Snakemake": "https://snakemake.github.io",
    "Nextflow": "https://www.nextflow.io/",
    "Prefect": "https://www.prefect.io/",
}
ENGINE_URLS["flowprov"] = "https://pypi.org/project/flowprov/"
METRIC_KEY = re.compile(r".+_(ms|bytes|percent|seconds|chars|kb)$")
REFERENCE_TYPE = "ro_crate_action"
NOTE_DESCRIPTION = "The workflow's source was not recorded; this file names the pipeline and how it was launched."
TOOL_REFERENCE_TYPE = "ro_crate_tool"


def _time(value: dt.datetime | None) -> str | None:
    """ISO 8601 with milliseconds and a numeric offset: the form the profiles check for."""
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds") if value is not None else None


def _single(value: Any) -> Any:
    """RO-Crate 1.1 writes a one-element list as the element itself."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _ref(entity_id: str) -> dict[str, str]:
    return {"@id": entity_id}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


class CrateBuilder:
    """Collects the entities of one crate (in a stable order) and the files to copy into it."""

    def __init__(self, selection: Selection, include_files: bool, license: str | None) -> None:
        self.selection = selection
        self.include_files = include_files
        self.license = license
        self.entities: dict[str, dict[str, Any]] = {}
        self.payload: dict[str, bytes | Path] = {}  # path inside the crate -> content or source file
        self.metadata: dict[str, Any] = {}

    def add(self, entity: dict[str, Any]) -> dict[str, Any]:
        """Add (or extend) an entity; list values are merged without duplicates."""
        current = self.entities.setdefault(entity["@id"], {"@id": entity["@id"]})
        for key, value in entity.items():
            if value is None or value == [] or value == "":
                continue
            if isinstance(value, list) and isinstance(current.get(key), list):
                current[key] += [v for v in value if v not in current[key]]
            else:
                current[key] = value
        return current

    # -- identifiers ------------------------------------------------------------------------
    @staticmethod
    def action_id(run: RunView) -> str:
        if run.reference_type == REFERENCE_TYPE and run.reference:
            return run.reference
        return f"#run-{run.uid}"

    @staticmethod
    def tool_id(t: TransformView) -> str:
        if t.reference_type == TOOL_REFERENCE_TYPE and t.reference:
            return t.reference
        return f"#tool-{t.uid}"

    @staticmethod
    def step_id(tool_id: str) -> str:
        return f"#step-{tool_id.lstrip('#')}"

    def workflow_id(self, transform: TransformView) -> str:
        if transform.source_code:
            name = _slug(transform.key.rsplit("/", 1)[-1].split(":", 1)[0])
            return f"workflow/{name}"
        return f"workflow/{_slug(transform.key)}.txt"

    # -- building -----------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        tops = self.selection.top_runs
        if not tops:
            raise ValueError("nothing to export: the selection has no runs")
        main = tops[0]
        root = self.add(
            {
                "@id": "./",
                "@type": "Dataset",
                "name": f"{main.transform.name or main.transform.key}: provenance of {len(self.selection.runs)} run(s)",
                "description": "Workflow Run RO-Crate exported by flowprov",
                "datePublished": _time(main.finished_at or main.started_at),
                "license": self.license_entity(),
                "conformsTo": [_ref(p) for p in PROFILES],
            }
        )
        self.readme(main)
        for profile_id, name in PROFILES.items():
            self.add(
                {"@id": profile_id, "@type": "CreativeWork", "name": name, "version": profile_id.rsplit("/", 1)[1]}
            )
        for top in tops:
            workflow = self.workflow(top)
            root.setdefault("mainEntity", _ref(workflow))
            self.top_run(top, workflow)
        root["hasPart"] = [_ref(i) for i, e in self.entities.items() if self._is_data(e) and i != "./"]
        root["mentions"] = [_ref(i) for i, e in self.entities.items() if e.get("@type") == "CreateAction"]
        descriptor = {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": _ref("./"),
            "conformsTo": [
                _ref("https://w3id.org/ro/crate/1.1"),
                _ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0"),
            ],
        }
        graph = [{k: _single(v) for k, v in e.items()} for e in [descriptor, *self.entities.values()]]
        self.metadata = {"@context": CONTEXT, "@graph": graph}
        return self.metadata

    def license_entity(self) -> str | dict[str, str]:
        """An SPDX identifier or a license URL as a linked CreativeWork; any other text as text."""
        text = self.license or "unspecified"
        spdx = re.fullmatch(r"(?:https?://spdx\.org/licenses/)?([A-Za-z0-9.+-]+?)(?:\.html)?", text)
        if spdx and spdx.group(1).lower() != "unspecified":
            url = f"https://spdx.org/licenses/{spdx.group(1)}"
        elif re.match(r"https?://", text):
            url = text
        else:
            return text
        self.add({"@id": url, "@type": "CreativeWork", "name": spdx.group(1) if spdx else url})
        return _ref(url)

    def readme(self, main: RunView) -> None:
        """README.md about the crate (Workflow RO-Crate recommends one): what it holds, how it was made."""
        runs = self.selection.runs
        text = (
            f"# {main.transform.name or main.transform.key}: provenance\n\n"
            f"A Workflow Run RO-Crate (Provenance Run Crate 0.5) exported by flowprov: {len(runs)} run(s), "
            f"the first started {_time(main.started_at) or 'at an unknown time'}.\n\n"
            "`ro-crate-metadata.json` describes the workflow, its steps, each run (a CreateAction) "
            "with its parameters, inputs and outputs; `workflow/` holds the workflow's recorded source.\n"
        )
        self.payload["README.md"] = text.encode()
        self.add(
            {
                "@id": "README.md",
                "@type": "File",
                "name": "README.md",
                "about": _ref("./"),
                "encodingFormat": "text/markdown",
            }
        )

    @staticmethod
    def _is_data(entity: dict[str, Any]) -> bool:
        types = entity.get("@type")
        types = types if isinstance(types, list) else [types]
        return "File" in types or "Dataset" in types

    def workflow(self, top: RunView) -> str:
        engine, version = engine_of(top, self.selection)
        lang_id, lang_name, lang_url = LANGUAGES.get(engine, PYTHON)
        self.add({"@id": lang_id, "@type": "ComputerLanguage", "name": lang_name, "url": _ref(lang_url)})
        t = top.transform
        workflow_id = self.workflow_id(t)
        description = t.description
        if t.source_code:
            self.payload[workflow_id] = t.source_code.encode()
        else:
            # The profile needs the main workflow inside the crate; flowprov saw only what the run
            # left behind (a Nextflow trace), so the file says which pipeline it was, not its code.
            self.payload[workflow_id] = _workflow_note(t, top).encode()
            description = (
                "The workflow's source was not recorded; this file names the pipeline and how it was launched."
            )
        self.add(
            {
                "@id": workflow_id,
                "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
                "name": t.name or t.key,
                "alternateName": t.key,
                "version": t.version,
                "description": description,
                "programmingLanguage": _ref(lang_id),
                "encodingFormat": "text/plain",
            }
        )
        return workflow_id

    def top_run(self, top: RunView, workflow_id: str) -> None:
        engine, version = engine_of(top, self.selection)
        engine_id = f"#engine-{_slug(engine.lower())}"
        self.add(
            {
                "@id": engine_id,
                "@type": "SoftwareApplication",
                "name": engine,
                "url": ENGINE_URLS.get(engine),
                "softwareVersion": version,
            }
        )
        action = self.action(top, workflow_id)
        self.params(top, workflow_id, action)
        controls: list[dict[str, str]] = []
        # A run without steps (a script) is a workflow of one step: the profile needs a tool run.
        steps = self._descendants(top) or [top]
        for position, step in enumerate(steps):
            # the one step of a run without steps is the workflow's own code, named after it
            own_tool = f"#tool-{_slug(workflow_id)}" if step is top else None
            tool_id = self.step_tool(step.transform, workflow_id, position, own_tool)
            own_id = f"{self.action_id(step)}-process" if step is top else None
            step_action = self.action(step, tool_id, own_id)
            control_id = f"#control-{self.action_id(step).lstrip('#')}"
            self.add(
                {
                    "@id": control_id,
                    "@type": "ControlAction",
                    "name": f"orchestrate {step_action['name']}",
                    "instrument": _ref(self.step_id(tool_id)),
                    "object": _ref(step_action["@id"]),
                    "actionStatus": step_action.get("actionStatus"),
                }
            )
            controls.append(_ref(control_id))
        self.add(
            {
                "@id": f"#organize-{action['@id'].lstrip('#')}",
                "@type": "OrganizeAction",
                "name": f"Run of {engine}",
                "instrument": _ref(engine_id),
                "result": _ref(action["@id"]),
                "object": controls,
                "startTime": _time(top.started_at),
                "endTime": _time(top.finished_at),
            }
        )

    def _descendants(self, top: RunView) -> list[RunView]:
        out: list[RunView] = []
        todo = list(self.selection.children(top.uid))
        while todo:
            run = todo.pop(0)
            out.append(run)
            todo += self.selection.children(run.uid)
        return out

    def step_tool(self, t: TransformView, workflow_id: str, position: int, tool_id: str | None = None) -> str:
        tool_id = tool_id or self.tool_id(t)
        step_id = self.step_id(tool_id)
        if tool_id not in self.entities:
            self.add(
                {
                    "@id": tool_id,
                    "@type": "SoftwareApplication",
                    "name": t.name or t.key.rsplit("#", 1)[-1],
                    "alternateName": t.key,
                    "softwareVersion": t.version,
                    "description": t.description,
                }
            )
            self.add({"@id": step_id, "@type": "HowToStep", "name": t.key, "workExample": _ref(tool_id)})
            self.entities[step_id]["position"] = str(
                len([e for e in self.entities.values() if e.get("@type") == "HowToStep"]) - 1
            )
            self.add({"@id": workflow_id, "hasPart": [_ref(tool_id)], "step": [_ref(step_id)]})
        return tool_id

    def action(self, run: RunView, instrument_id: str, action_id: str | None = None) -> dict[str, Any]:
        action_id = action_id or self.action_id(run)
        entity = self.add(
            {
                "@id": action_id,
                "@type": "CreateAction",
                "name": run.name or f"Run of {run.transform.key}",
                "instrument": _ref(instrument_id),
                "startTime": _time(run.started_at),
                "endTime": _time(run.finished_at),
                # a string, not an @id: the profiles' examples and their validator's shapes take the URL as text
                "actionStatus": STATUS.get(run.status, "http://schema.org/ActiveActionStatus"),
                "description": f"Run of {run.transform.key}, as flowprov recorded it",
                "error": run.error if run.status == "errored" else None,
                "object": [_ref(self.file(u)) for u in run.inputs if u in self.selection.artifacts],
                "result": [_ref(self.file(u)) for u in run.outputs if u in self.selection.artifacts],
                "resourceUsage": self.resource_usage(run),
            }
        )
        if run.user:
            person_id = f"#user-{_slug(run.user)}"
            self.add({"@id": person_id, "@type": "Person", "name": run.user})
            entity["agent"] = _ref(person_id)
        return entity

    def resource_usage(self, run: RunView) -> list[dict[str, str]]:
        refs = []
        for key, value in sorted(run.aux.items()):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not METRIC_KEY.match(key):
                continue
            usage_id = f"#usage-{self.action_id(run).lstrip('#')}-{key}"
            self.add({"@id": usage_id, "@type": "PropertyValue", "propertyID": key, "name": key, "value": value})
            refs.append(_ref(usage_id))
        return refs

    def params(self, run: RunView, workflow_id: str, action: dict[str, Any]) -> None:
        for key, value in sorted(run.params.items()):
            param_id = f"#param-{_slug(workflow_id)}-{_slug(key)}"
            value_id = f"#pv-{self.action_id(run).lstrip('#')}-{_slug(key)}"
            self.add(
                {
                    "@id": param_id,
                    "@type": "FormalParameter",
                    "name": key,
                    "additionalType": _additional_type(value),
                    "workExample": [_ref(value_id)],
                }
            )
            shown = value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)
            self.add(
                {
                    "@id": value_id,
                    "@type": "PropertyValue",
                    "name": key,
                    "value": shown,
                    "exampleOfWork": _ref(param_id),
                }
            )
            self.add({"@id": workflow_id, "input": [_ref(param_id)]})
            action.setdefault("object", []).append(_ref(value_id))

    def file(self, uid: str) -> str:
        artifact = self.selection.artifacts[uid]
        local = _local_path(artifact)
        is_dir = artifact.n_files is not None
        if self.include_files and local is not None and local.exists():
            file_id = f"data/{artifact.hash or uid}/{local.name}" + ("/" if is_dir else "")
            self.payload[file_id] = local
        else:
            file_id = artifact.path + ("/" if is_dir and not artifact.path.endswith("/") else "")
        if file_id in self.entities:
            return file_id
        name = artifact.key or artifact.path.rstrip("/").rsplit("/", 1)[-1]
        entity: dict[str, Any] = {
            "@id": file_id,
            "@type": "Dataset" if is_dir else "File",
            "name": name,
            "identifier": artifact.hash,
            "contentSize": str(artifact.size) if artifact.size is not None else None,
            "description": artifact.description,
        }
        if not is_dir:
            entity["encodingFormat"] = mimetypes.guess_type(name)[0]
            entity["sha256"] = _sha256(local) if local is not None else None
        self.add(entity)
        return file_id


def _workflow_note(t: TransformView, top: RunView) -> str:
    lines = [f"pipeline: {t.key}"]
    lines += [f"version: {t.version}"] if t.version else []
    lines += [f"command: {top.aux['command']}"] if top.aux.get("command") else []
    return "\n".join(lines) + "\n"


def _additional_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "Text"
    return "PropertyValue"


def _local_path(artifact: ArtifactView) -> Path | None:
    if not artifact.path.startswith("file:"):
        return None
    from flowprov.core.registry.artifact import uri_to_path

    return uri_to_path(artifact.path)


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_crate(selection: Selection, include_files: bool = False, license: str | None = None) -> CrateBuilder:
    builder = CrateBuilder(selection, include_files, license)
    builder.build()
    return builder


def crate_json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"


def write_crate(builder: CrateBuilder, out: Path) -> Path:
    """Write the crate to a directory or, for a `.zip` path, a zip file; all or nothing."""
    import shutil
    import tempfile
    import zipfile

    metadata = builder.metadata
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".flowprov-crate-", dir=out.parent))
    try:
        (staging / "ro-crate-metadata.json").write_text(crate_json(metadata))
        for inner, content in builder.payload.items():
            target = staging / inner.rstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            elif content.is_dir():
                shutil.copytree(content, target)
            else:
                shutil.copy2(content, target)
        if out.suffix == ".zip":
            tmp_zip = staging.with_suffix(".zip")
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(staging.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(staging).as_posix())
            tmp_zip.replace(out)
        else:
            if out.exists():
                shutil.rmtree(out) if out.is_dir() else out.unlink()
            staging.rename(out)
            return out
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out
