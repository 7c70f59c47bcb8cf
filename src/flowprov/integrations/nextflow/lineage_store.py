"""The data-lineage store of Nextflow >= 25.04 (`.lineage/`, `lineage.enabled = true`).

Records are JSON files `<store>/<lid path>/.data.json` (`lineage/v1beta1`): WorkflowRun (session,
run name, params, command line), TaskRun (name, script, inputs as `lid://` references), TaskOutput
(a task's outputs) and FileOutput (path, size, checksum, the task that made it); `.history/` has a
line per launch. The layout is not a stable interface, so everything here is read defensively:
a record that is missing or does not parse is skipped and noted, never fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LineageStore:
    root: Path
    problems: list[str] = field(default_factory=list)

    def _read(self, lid: str) -> dict[str, Any] | None:
        path = self.root / lid.removeprefix("lid://") / ".data.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            if path.exists():
                self.problems.append(f"{path}: {exc}")
            return None
        return data if isinstance(data, dict) and isinstance(data.get("spec"), dict) else None

    def launches(self) -> list[tuple[str, str, str]]:
        """(run name, session id, workflow lid) per line of `.history/*`."""
        out = []
        history = self.root / ".history"
        for path in sorted(history.glob("*")) if history.is_dir() else []:
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split("\t")
                if len(parts) >= 4:
                    out.append((parts[1], parts[2], parts[3]))
        return out

    def workflow(self, session_id: str | None, run_name: str | None) -> dict[str, Any] | None:
        for name, session, lid in self.launches():
            if (session_id is None or session == session_id) and (run_name is None or name == run_name):
                record = self._read(lid)
                if record and record.get("kind") == "WorkflowRun":
                    return record["spec"]
        return None

    def full_hash(self, short_hash: str) -> str | None:
        """The full task hash for the trace's `ab/cdef12`, when exactly one task run matches."""
        prefix = short_hash.replace("/", "")
        matches = [p.name for p in self.root.glob(prefix + "*") if "#" not in p.name and len(p.name) == 32]
        return matches[0] if len(matches) == 1 else None

    def task(self, full_hash: str) -> dict[str, Any] | None:
        record = self._read(full_hash)
        return record["spec"] if record and record.get("kind") == "TaskRun" else None

    def file_path(self, lid: str) -> Path | None:
        record = self._read(lid)
        if not record or record.get("kind") != "FileOutput":
            return None
        path = str(record["spec"].get("path") or "")
        return Path(path) if path and "://" not in path else None

    def task_inputs(self, task: dict[str, Any]) -> list[Path]:
        paths = []
        for item in task.get("input") or []:
            values = item.get("value") if isinstance(item, dict) else None
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and value.startswith("lid://"):
                    path = self.file_path(value)
                    if path is not None:
                        paths.append(path)
        return paths

    def task_outputs(self, full_hash: str) -> list[Path]:
        record = self._read(f"{full_hash}#output")
        if not record or record.get("kind") != "TaskOutput":
            return []
        paths = []
        for item in record["spec"].get("output") or []:
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, str) and value.startswith("lid://"):
                path = self.file_path(value)
                if path is not None:
                    paths.append(path)
        return paths


def workflow_params(spec: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p.get("value") for p in spec.get("params") or [] if isinstance(p, dict) and p.get("name")}
