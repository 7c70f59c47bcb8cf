"""What to export: a run with its child runs (and parents), or an artifact with its upstream lineage.

The exporters never read the store themselves: `select()` turns the records into plain, ordered
views (`Selection`), so that every format sees the same runs, transforms and files in the same
order, and a store filled by an import gives the same views back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# reference types written by the importers: the run's id in the document it came from
IMPORTED_REFERENCE_TYPES = ("openlineage_run_id", "ro_crate_action", "prov_activity")


@dataclass
class TransformView:
    uid: str
    key: str
    name: str | None
    version: str | None
    type: str
    hash: str | None
    source_code: str | None
    description: str | None
    reference: str | None
    reference_type: str | None


@dataclass
class ArtifactView:
    uid: str
    key: str | None
    path: str
    suffix: str | None
    size: int | None
    hash: str | None
    hash_type: str | None
    n_files: int | None
    description: str | None


@dataclass
class RunView:
    uid: str
    name: str | None
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    reference: str | None
    reference_type: str | None
    transform: TransformView
    params: dict[str, Any]
    aux: dict[str, Any]
    parent_uid: str | None
    user: str | None
    inputs: list[str] = field(default_factory=list)  # artifact uids
    outputs: list[str] = field(default_factory=list)
    environment: str | None = None  # artifact uid

    @property
    def error(self) -> str | None:
        value = self.aux.get("error")
        return str(value) if value else None


@dataclass
class Selection:
    root: str  # uid of the run or artifact asked for
    runs: list[RunView]  # parents before children
    artifacts: dict[str, ArtifactView]

    def run(self, uid: str) -> RunView | None:
        return next((r for r in self.runs if r.uid == uid), None)

    def children(self, uid: str) -> list[RunView]:
        return [r for r in self.runs if r.parent_uid == uid]

    @property
    def top_runs(self) -> list[RunView]:
        uids = {r.uid for r in self.runs}
        return [r for r in self.runs if r.parent_uid not in uids]


def resolve_target(target: Any) -> Any:
    """A Run or Artifact from a record, a run uid or reference, an artifact uid, or a file path."""
    import flowprov as ln
    from flowprov.core.exceptions import DoesNotExist
    from flowprov.core.registry.artifact import path_to_uri

    if isinstance(target, (ln.Run, ln.Artifact)):
        return target
    text = str(target)
    for model in (ln.Run, ln.Artifact):
        try:
            return model.get(text)
        except DoesNotExist:
            continue
    run = ln.Run.filter(reference=text).order_by("-started_at").first()
    if run is not None:
        return run
    path = Path(text)
    if path.exists():
        from flowprov.core.hashing import hash_path

        found = ln.Artifact.filter(hash=hash_path(path).hash).order_by("id").first()
        found = found or ln.Artifact.filter(path=path_to_uri(path)).order_by("-id").first()
        if found is not None:
            return found
    raise DoesNotExist(f"{text!r} is neither a run (uid or reference), an artifact uid nor a registered file")


def select(target: Any, depth: int | None = None) -> Selection:
    """The runs and files to export for `target` (see module doc); `depth` limits artifact lineage."""
    import flowprov as ln
    from flowprov.core.registry.lineage import upstream

    record = resolve_target(target)
    if isinstance(record, ln.Run):
        runs = _with_ancestors(_with_descendants([record]))  # parents too: a step keeps its context
    else:
        runs = _with_ancestors(upstream(record, depth).runs)
    # an order that an imported copy of the same runs reproduces (ids and uids differ there)
    runs = sorted(
        {r.id: r for r in runs}.values(),
        key=lambda r: (
            _depth(r),
            r.started_at,
            r.finished_at or r.started_at,
            r.transform.key or "",
            r.name or "",
            r.id,
        ),
    )
    artifacts: dict[str, ArtifactView] = {}
    views = [_run_view(r, artifacts) for r in runs]
    if isinstance(record, ln.Artifact):
        artifacts.setdefault(record.uid, _artifact_view(record))
    return Selection(root=record.uid, runs=views, artifacts=artifacts)


def _with_descendants(runs: list[Any]) -> list[Any]:
    out, todo = [], list(runs)
    seen: set[int] = set()
    while todo:
        run = todo.pop(0)
        if run.id in seen:
            continue
        seen.add(run.id)
        out.append(run)
        todo += run.initiated_runs.all().order_by("id").list()
    return out


def _with_ancestors(runs: list[Any]) -> list[Any]:
    out = {r.id: r for r in runs}
    for run in runs:
        parent = run.initiated_by_run
        while parent is not None and parent.id not in out:
            out[parent.id] = parent
            parent = parent.initiated_by_run
    return list(out.values())


def _depth(run: Any) -> int:
    depth, parent = 0, run.initiated_by_run
    while parent is not None:
        depth, parent = depth + 1, parent.initiated_by_run
    return depth


def _transform_view(t: Any) -> TransformView:
    return TransformView(
        uid=t.uid,
        key=t.key or t.name or t.uid,
        name=t.name,
        version=t.version_tag,
        type=t.type or "pipeline",
        hash=t.hash,
        source_code=t.source_code,
        description=t.description,
        reference=t.reference,
        reference_type=t.reference_type,
    )


def _artifact_view(a: Any) -> ArtifactView:
    return ArtifactView(
        uid=a.uid,
        key=a.key,
        path=a.uri or "",
        suffix=a.suffix or None,
        size=a.size,
        hash=a.hash,
        hash_type=a._hash_type,
        n_files=a.n_files,
        description=a.description,
    )


def _run_view(r: Any, artifacts: dict[str, ArtifactView]) -> RunView:
    inputs = sorted(r.input_artifacts.all().list(), key=lambda a: (a.uri or "", a.hash or ""))
    outputs = sorted(r.output_artifacts.all().list(), key=lambda a: (a.uri or "", a.hash or ""))
    for a in [*inputs, *outputs, *([r.environment] if r.environment_id else [])]:
        artifacts.setdefault(a.uid, _artifact_view(a))
    return RunView(
        uid=r.uid,
        name=r.name,
        status=r.status,
        started_at=r.started_at,
        finished_at=r.finished_at,
        reference=r.reference,
        reference_type=r.reference_type,
        transform=_transform_view(r.transform),
        params=r.params.get_values() or {},
        aux=dict(r.aux or {}),
        parent_uid=r.initiated_by_run.uid if r.initiated_by_run_id else None,
        user=r.created_by.handle if r.created_by_id else None,
        inputs=[a.uid for a in inputs],
        outputs=[a.uid for a in outputs],
        environment=r.environment.uid if r.environment_id else None,
    )


ENGINES = {"snakemake": "Snakemake", "prefect": "Prefect", "nextflow": "Nextflow"}


def engine_of(run: RunView, selection: Selection) -> tuple[str, str | None]:
    """The workflow manager that ran `run` (flowprov for scripts) and its version when recorded.

    The version is read from the environment the run recorded (`name==version` lines); a run
    with none (a Nextflow trace) has no known version. Imported runs keep theirs in `aux["engine"]`.
    """
    top = run
    while top.parent_uid is not None and (parent := selection.run(top.parent_uid)) is not None:
        top = parent
    recorded = top.aux.get("engine")
    if isinstance(recorded, dict) and recorded.get("name"):  # an imported run keeps what its document said
        return str(recorded["name"]), recorded.get("version")
    prefix = (top.reference_type or "").split("_", 1)[0]
    name = ENGINES.get(prefix, "flowprov")
    env = selection.artifacts.get(top.environment or "")
    if env is None or not env.path.startswith("file:"):
        return name, None
    from flowprov.core.registry.artifact import uri_to_path

    try:
        lines = uri_to_path(env.path).read_text().splitlines()
    except OSError:
        return name, None
    wanted = name.lower() + "=="
    return name, next((line[len(wanted) :] for line in lines if line.lower().startswith(wanted)), None)
