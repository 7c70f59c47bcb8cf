"""Load one run and its steps in a fixed number of queries (never one per step).

A snapshot is everything a diff compares: the run, its step runs (child runs, plus the earlier
runs a resumed launch reused, `aux["cached_task_runs"]`), and each one's input and output
artifacts, each at the location the run read or wrote it (the per-run links of schema 0002), so a
re-run that wrote the same bytes shows them as its own, and two equal files stay two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from flowprov.core.util import chunked


@dataclass
class Step:
    """One step run of a snapshot, with the key it is matched on across runs."""

    key: str
    run: Any
    label: str
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    cached: bool = False
    attempts: int = 1


@dataclass
class Snapshot:
    run: Any
    inputs: list[Any]
    outputs: list[Any]
    steps: dict[str, Step]
    _names: dict[str, str] | None = None

    def producers(self) -> dict[int, Step]:
        """Artifact id -> the step of this run that wrote it."""
        return {a.id: s for s in self.steps.values() for a in s.outputs}

    def files(self) -> list[Any]:
        """Every artifact of the run and its steps, once."""
        seen: dict[int, Any] = {a.id: a for a in [*self.inputs, *self.outputs]}
        for s in self.steps.values():
            seen.update((a.id, a) for a in [*s.inputs, *s.outputs])
        return list(seen.values())

    def file_names(self) -> dict[str, str]:
        """artifact uid -> its key, else its path relative to the folder all the run's files share."""
        from flowprov.diff.files import relative_names

        if self._names is None:
            files = self.files()
            names = relative_names(files)
            self._names = {a.uid: names[a.id] for a in files}
        return self._names

    def all_outputs(self) -> list[Any]:
        seen: dict[int, Any] = {a.id: a for a in self.outputs}
        for s in self.steps.values():
            seen.update((a.id, a) for a in s.outputs)
        return list(seen.values())


def step_name(transform: Any) -> str:
    key = transform.key or transform.name or transform.uid
    return key.split("#", 1)[-1]


def stable_names(runs: list[Any]) -> dict[int, str]:
    """run id -> the name steps are matched on: the run name (rule + wildcards, process + tag, task
    run name), except Prefect's default task run names `<task>-<3 random hex>`, which differ on
    every flow run: those become `<task> #<n>`, numbered in start order per task."""
    names: dict[int, str] = {}
    counters: dict[str, int] = {}
    for run in sorted(runs, key=lambda r: (r.started_at is None, r.started_at or 0, r.id)):
        task = step_name(run.transform)
        name = run.name or task
        if run.reference_type == "prefect_task_run_id" and re.fullmatch(re.escape(task) + r"-[0-9a-f]{3}", name):
            counters[task] = counters.get(task, 0) + 1
            name = f"{task} #{counters[task]}"
        names[run.id] = name
    return names


def step_key(run: Any, name: str) -> str:
    """Steps match across runs by step transform key and name."""
    return f"{run.transform.key or run.transform.name}|{name}"


def _runs(**lookup: list[Any]) -> list[Any]:
    """Runs matching one `__in` lookup, and their transforms in one more query: a join would repeat
    each step transform's source code on every row; loaded once, `run.transform` comes from the session."""
    from flowprov.core.registry import Run, Transform

    [(name, values)] = lookup.items()
    out: list[Any] = []
    for chunk in chunked(sorted(set(values))):
        out += Run.filter(**{name: chunk}).order_by("id").list()
    transforms = Transform.filter(id__in=sorted({r.transform_id for r in out})).list() if out else []
    by_id = {t.id: t for t in transforms}
    for run in out:
        run.__dict__.setdefault("transform", by_id[run.transform_id])
    return out


def artifact_columns() -> list[Any]:
    """The artifact fields a diff reads, loaded as plain rows (much cheaper than records for thousands of files)."""
    from flowprov.core.registry import Artifact

    return [
        Artifact.id,
        Artifact.uid,
        Artifact.key,
        Artifact.path,
        Artifact.hash,
        Artifact._hash_type.label("hash_type"),
        Artifact.size,
        Artifact.run_id,
    ]


def artifact_rows(stmt: Any) -> list[Any]:
    from flowprov.core.store import current_store

    store = current_store()
    try:
        return list(store.session.execute(stmt).all())
    finally:
        store.release()


def _files_by_run(link: Any, run_ids: list[int]) -> dict[int, list[Any]]:
    """run id -> the files of a link table (read or written), each at the location of that link
    (an empty legacy location falls back to the artifact's last known one), one query per chunk."""
    from sqlalchemy import func

    from flowprov.core.registry import Artifact

    columns = [c for c in artifact_columns() if c.key != "path"]
    located = func.coalesce(func.nullif(link.c.path, ""), Artifact.path).label("path")
    out: dict[int, list[Any]] = {}
    for chunk in chunked(run_ids):
        stmt = (
            select(link.c.run_id.label("linked_run_id"), located, *columns)
            .join(Artifact, Artifact.id == link.c.artifact_id)
            .where(link.c.run_id.in_(chunk))
            .order_by(Artifact.id, located)
        )
        for row in artifact_rows(stmt):
            out.setdefault(row.linked_run_id, []).append(row)
    return out


def _inputs_by_run(run_ids: list[int]) -> dict[int, list[Any]]:
    """run id -> what it read (the links behind run.input_artifacts)."""
    from flowprov.core.registry.links import run_input_artifact

    return _files_by_run(run_input_artifact, run_ids)


def _outputs_by_run(runs: list[Any]) -> dict[int, list[Any]]:
    """run id -> everything it wrote (the links behind run.output_artifacts), also bytes an
    earlier run created first."""
    from flowprov.core.registry.links import run_output_artifact

    return _files_by_run(run_output_artifact, sorted(r.id for r in runs))


def _steps(children: Iterable[Any], cached: Iterable[Any], inputs: dict, outputs: dict) -> dict[str, Step]:
    """Steps by match key; a retried step keeps its last attempt and counts the attempts."""
    steps: dict[str, Step] = {}
    runs = [(c, False) for c in children] + [(c, True) for c in cached]
    names = stable_names([r for r, _ in runs])
    for run, is_cached in runs:
        key = step_key(run, names[run.id])
        earlier = steps.get(key)
        if earlier is not None and (is_cached or earlier.run.id > run.id):
            earlier.attempts += 1
            continue
        steps[key] = Step(
            key,
            run,
            names[run.id],
            inputs.get(run.id, []),
            outputs.get(run.id, []),
            cached=is_cached or bool((run.aux or {}).get("cached")),
            attempts=1 + (earlier.attempts if earlier else 0),
        )
    return steps


def load_snapshot(run: Any) -> Snapshot:
    """The run, its steps and their files: five queries (chunked for very large runs)."""
    children = _runs(initiated_by_run_id__in=[run.id])
    cached_uids = list((run.aux or {}).get("cached_task_runs", []))
    child_ids = {c.id for c in children}
    cached = [c for c in _runs(uid__in=cached_uids) if c.id not in child_ids] if cached_uids else []
    everything = [run, *children, *cached]
    inputs = _inputs_by_run(sorted(r.id for r in everything))
    outputs = _outputs_by_run(everything)
    return Snapshot(
        run=run,
        inputs=inputs.get(run.id, []),
        outputs=outputs.get(run.id, []),
        steps=_steps(children, cached, inputs, outputs),
    )
