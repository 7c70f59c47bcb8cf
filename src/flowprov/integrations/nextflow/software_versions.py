"""The environment of every Nextflow process, from nf-core's software-versions YAML and the task's container.

nf-core pipelines write the tool versions of each process to `pipeline_info/software_versions.yml`
(older) or `pipeline_info/nf_core_<pipeline>_software_mqc_versions.yml`: a mapping of the
process's simple name (`FASTQC`, the last part of `NFCORE_RNASEQ:RNASEQ:FASTQC`) to
`{tool: version}`, plus a `Workflow` section (Nextflow and pipeline versions).

Each (process, container) becomes one small JSON document - its tools and versions, and the
container image and digest the task ran in - written once, content-addressed, under flowprov's
cache directory and registered as the environment artifact of that process's task runs (same
bytes, same record). The launch's environment lists every process's tools and containers.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from flowprov.core.exceptions import FlowprovError

VERSIONS_FILE_PATTERNS = ("nf_core_*_software_mqc_versions.yml", "software_versions.yml")
WORKFLOW_SECTION = "Workflow"


class VersionsFileError(FlowprovError, ValueError):
    """A software-versions file that cannot be read; the message names the file and line."""


def find_versions_file(*directories: Path | None) -> Path | None:
    """The software-versions YAML in (or in `pipeline_info/` under) the first directory that has one."""
    for directory in directories:
        if directory is None:
            continue
        for base in (Path(directory), Path(directory) / "pipeline_info"):
            for pattern in VERSIONS_FILE_PATTERNS:
                found = sorted(p for p in base.glob(pattern) if p.is_file())
                if found:
                    return found[-1]
    return None


def read_versions(path: Path) -> dict[str, dict[str, str]]:
    """process (simple name) -> tool -> version, all as the text the file shows (YAML numbers too)."""
    try:
        import yaml
    except ImportError:
        raise VersionsFileError(f"{path}: reading it needs PyYAML (pip install 'flowprov[nextflow]')") from None
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise VersionsFileError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VersionsFileError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise VersionsFileError(f"{path}: expected a mapping of process names to {{tool: version}}")
    versions: dict[str, dict[str, str]] = {}
    for process, tools in data.items():
        if not isinstance(tools, dict):
            raise VersionsFileError(f"{path}: process {process!r}: expected a mapping of tools to versions")
        versions[str(process)] = {str(tool): str(version) for tool, version in tools.items()}
    return versions


def split_container(container: str | None) -> dict[str, str]:
    """`image@sha256:...` -> image and digest; a plain `image:tag` has no digest."""
    if not container:
        return {}
    image, _, digest = container.partition("@")
    out = {"image": image}
    if digest:
        out["digest"] = digest
    return out


def container_aux(container: str | None) -> dict[str, str]:
    """The task-run aux keys for a container beyond `container` itself (its digest, when pinned)."""
    digest = split_container(container).get("digest")
    return {"container_digest": digest} if digest else {}


def cache_dir() -> Path:
    from flowprov.core.tracking.adapter_kit import environments_dir

    return environments_dir() / "nextflow"


def _write_document(document: dict[str, Any], prefix: str) -> Path:
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    digest = hashlib.md5(text.encode()).hexdigest()
    path = cache_dir() / f"{prefix}-{digest}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


class ProcessEnvironments:
    """Environment files per (process, container) of one launch, and the launch's own listing."""

    def __init__(self, versions: dict[str, dict[str, str]], source: Path | None = None):
        self.versions = versions
        self.source = source
        self.seen: dict[str, set[str]] = {}  # process -> containers of its tasks
        self._files: dict[tuple[str, str | None], Path] = {}

    def tools_of(self, process: str) -> dict[str, str] | None:
        """The process's tools: by its full name, else by its last `:` part (what nf-core writes)."""
        found = self.versions.get(process)
        if found is None:
            found = self.versions.get(process.rsplit(":", 1)[-1])
        return found

    def for_task(self, process: str, container: str | None) -> Path | None:
        """The environment file of a task of `process` run in `container` (None: nf-core wrote none)."""
        tools = self.tools_of(process)
        if tools is None:
            return None
        self.seen.setdefault(process, set()).update([container] if container else [])
        key = (process, container)
        if key not in self._files:
            document: dict[str, Any] = {"process": process, "tools": tools}
            if container:
                document["container"] = split_container(container)
            self._files[key] = _write_document(document, "process")
        return self._files[key]

    def launch_file(self) -> Path | None:
        """Every process seen with its tools and containers, plus the `Workflow` section."""
        if not self.seen:
            return None
        document: dict[str, Any] = {
            "processes": {
                process: {
                    "tools": self.tools_of(process),
                    "containers": [split_container(c) for c in sorted(containers)],
                }
                for process, containers in sorted(self.seen.items())
            }
        }
        if WORKFLOW_SECTION in self.versions:
            document["workflow"] = self.versions[WORKFLOW_SECTION]
        if self.source is not None:
            document["versions_file"] = self.source.name
        return _write_document(document, "launch")
