"""Turn what the user names (a run uid, a reference, an artifact uid, a path) into a run.

An artifact, or a path (the artifact with the file's current bytes, preferring one registered at
that location; else the newest registered at that location), stands for the top-level run that
produced it: a file written by a workflow's step stands for the workflow, so the diff walks the
whole workflow. A run uid names exactly that run. A reference shared by several runs (`-resume` launches of one Nextflow session) means
the newest of them. With one argument, B is the run before A of the same transform family.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowprov.core.exceptions import DoesNotExist


def _top(run: Any) -> Any:
    seen = set()
    while run.initiated_by_run_id is not None and run.id not in seen:
        seen.add(run.id)
        run = run.initiated_by_run
    return run


def _run_of(artifact: Any, what: str) -> Any:
    if artifact.run is None:
        raise DoesNotExist(f"{what}: artifact {artifact.uid} was not produced by a recorded run")
    return _top(artifact.run)


def _artifact_at(path: Path) -> Any | None:
    from flowprov.core.hashing import hash_path
    from flowprov.core.registry import Artifact
    from flowprov.core.registry.artifact import path_to_uri

    uri = path_to_uri(path)
    same_bytes = Artifact.filter(hash=hash_path(path).hash).order_by("-id").list()
    here = [a for a in same_bytes if a.uri == uri]
    if here or same_bytes:
        return (here or same_bytes)[0]
    return Artifact.filter(path=uri).order_by("-id").first()


def _by_reference(spec: str) -> Any | None:
    from flowprov.core.registry import Run

    for field in ("reference", "name"):
        matches = Run.filter(**{field: spec}).order_by("-started_at", "-id")[:50].list()
        tops = [r for r in matches if r.initiated_by_run_id is None] or matches
        if tops:
            return _top(tops[0])
    return None


def resolve_run(spec: Any) -> Any:
    """A Run from a Run, an Artifact, a run or artifact uid (or prefix), a reference, a run name or a path."""
    from flowprov.core.registry import Artifact, Run

    if isinstance(spec, Run):
        return spec
    if isinstance(spec, Artifact):
        return _run_of(spec, spec.uid)
    if not isinstance(spec, (str, Path)) or not str(spec):
        raise ValueError(f"diff takes runs, artifacts, uids, references or paths, not {spec!r}")
    text = str(spec)
    path = Path(text)
    if path.exists():
        artifact = _artifact_at(path)
        if artifact is None:
            raise DoesNotExist(f"{text}: no artifact has this location or content; was it registered?")
        return _run_of(artifact, text)
    for model in (Run, Artifact):
        try:
            record = model.get(text)
        except DoesNotExist:
            continue
        return record if model is Run else _run_of(record, text)
    found = _by_reference(text)
    if found is None:
        raise DoesNotExist(f"{text!r} is not a run uid, reference or name, an artifact uid or an existing path")
    return found


def previous_run(run: Any) -> Any:
    """The run of the same transform family (same key, else same uid stem) that started before `run`."""
    from flowprov.core.registry import Run

    t = run.transform
    family = Run.filter(transform__key=t.key) if t.key else Run.filter(transform__uid__startswith=t.uid[:12])
    family = family.exclude(id=run.id)
    if run.started_at is not None:
        earlier = family.filter(started_at__lt=run.started_at).order_by("-started_at", "-id").first()
        if earlier is not None:
            return earlier
    earlier = family.filter(id__lt=run.id).order_by("-id").first()
    if earlier is None:
        raise DoesNotExist(f"run {run.uid} ({t.key or t.name}) has no earlier run to compare with; name run B")
    return earlier
