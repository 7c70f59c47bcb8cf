"""Lineage: which runs and artifacts led to a record (upstream) or came from it (downstream).

One recursive CTE walks artifact -> creating run -> that run's inputs (upstream), or artifact ->
runs that read it -> their outputs (downstream), at any depth. Without a depth limit the CTE keeps
only distinct artifact ids, so a cycle in bad data still terminates; with a limit it carries the
depth. A second batch of queries fetches the records and the edges between them.

Depth counts runs: depth=1 upstream of an artifact is the run that wrote it and that run's inputs.
Collections used as run inputs are not walked yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import column, func, literal, select, table

ARTIFACT = "flowprov_artifact"
RUN_INPUT = "flowprov_run_input_artifact"
CHUNK = 5000


@dataclass
class Lineage:
    """The records reached from `root` and the edges between them (input -> run -> output)."""

    root: Any
    direction: str
    runs: list = field(default_factory=list)
    artifacts: list = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (from uid, to uid)

    @staticmethod
    def artifact_label(a: Any) -> str:
        return (a.key or (a.path or "").rsplit("/", 1)[-1] or a.uid).replace('"', "'")

    @staticmethod
    def run_label(r: Any) -> str:
        return (r.name or r.transform.name or r.uid).replace('"', "'")

    def to_mermaid(self) -> str:
        lines = ["flowchart TD"]
        lines += [f'    n{a.uid}["{self.artifact_label(a)}"]' for a in self.artifacts]
        lines += [f'    n{r.uid}(["{self.run_label(r)}"])' for r in self.runs]
        lines += [f"    n{src} --> n{dst}" for src, dst in self.edges]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_mermaid()

    def to_tree(self) -> str:
        """An indented text tree from the root, following the walk's direction."""
        names = {a.uid: f"artifact {a.uid} {a.key or (a.path or '').rsplit('/', 1)[-1]}" for a in self.artifacts}
        names.update(
            {r.uid: f"run {r.uid} {r.name or r.transform.key or r.transform.name} [{r.status}]" for r in self.runs}
        )
        children: dict[str, list[str]] = {}
        for src, dst in self.edges:
            parent, child = (dst, src) if self.direction == "upstream" else (src, dst)
            children.setdefault(parent, []).append(child)
        lines: list[str] = []

        def visit(uid: str, indent: int, seen: frozenset) -> None:
            lines.append("  " * indent + names.get(uid, uid) + (" (seen above)" if uid in seen else ""))
            if uid in seen:
                return
            for child in sorted(children.get(uid, [])):
                visit(child, indent + 1, seen | {uid})

        visit(self.root.uid, 0, frozenset())
        return "\n".join(lines)

    def to_dot(self) -> str:
        lines = ["digraph lineage {", "  rankdir=TB;"]
        lines += [f'  "{a.uid}" [shape=box, label="{self.artifact_label(a)}"];' for a in self.artifacts]
        lines += [f'  "{r.uid}" [shape=ellipse, label="{self.run_label(r)}"];' for r in self.runs]
        lines += [f'  "{src}" -> "{dst}";' for src, dst in self.edges]
        lines.append("}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return "```mermaid\n" + self.to_mermaid() + "\n```"

    def _repr_svg_(self) -> str | None:
        try:
            import graphviz
        except ImportError:
            return None
        try:
            return graphviz.Source(self.to_dot()).pipe(format="svg").decode()
        except Exception:  # the Python package without the dot executable
            return None


def _walk_artifacts(session, seed, direction: str, depth: int | None) -> dict[int, int | None]:
    """Artifact id -> its depth (None when walking without a limit), reached from `seed`."""
    art = table(ARTIFACT, column("id"), column("run_id"))
    link = table(RUN_INPUT, column("run_id"), column("artifact_id"))
    if depth is None:
        cte = seed.cte("walk", recursive=True)
        if direction == "upstream":
            step = select(link.c.artifact_id.label("id")).select_from(
                cte.join(art, art.c.id == cte.c.id).join(link, link.c.run_id == art.c.run_id)
            )
        else:
            step = select(art.c.id.label("id")).select_from(
                cte.join(link, link.c.artifact_id == cte.c.id).join(art, art.c.run_id == link.c.run_id)
            )
        cte = cte.union(step)  # UNION (not ALL) on ids alone: a cycle cannot loop forever
        return {i: None for i in session.execute(select(cte.c.id)).scalars()}
    seeded = select(seed.subquery().c.id, literal(0).label("depth"))
    cte = seeded.cte("walk", recursive=True)
    if direction == "upstream":
        step = select(link.c.artifact_id, cte.c.depth + 1).select_from(
            cte.join(art, art.c.id == cte.c.id).join(link, link.c.run_id == art.c.run_id)
        )
    else:
        step = select(art.c.id, cte.c.depth + 1).select_from(
            cte.join(link, link.c.artifact_id == cte.c.id).join(art, art.c.run_id == link.c.run_id)
        )
    cte = cte.union(step.where(cte.c.depth < depth))
    rows = session.execute(select(cte.c.id, func.min(cte.c.depth)).group_by(cte.c.id)).all()
    return dict(rows)


def walk(root: Any, direction: str = "upstream", depth: int | None = None, store=None) -> Lineage:
    """The lineage of an Artifact or a Run, `direction` "upstream" or "downstream"."""
    from flowprov.core.registry import Artifact, Run

    if direction not in ("upstream", "downstream"):
        raise ValueError("direction is 'upstream' or 'downstream'")
    if depth is not None and depth < 0:
        raise ValueError("depth must be >= 0 (or None for any depth)")
    if not isinstance(root, (Artifact, Run)):
        raise TypeError(f"lineage takes an Artifact or a Run, not {type(root).__name__}")
    if root.id is None:
        raise ValueError(f"{type(root).__name__} is not saved; lineage needs a stored record")
    store = store or root._target_store(None)
    session = store.session
    link = table(RUN_INPUT, column("run_id"), column("artifact_id"))
    art = table(ARTIFACT, column("id"), column("run_id"))
    try:
        if isinstance(root, Run):
            # the run is the first step: its direct inputs (outputs) are one step away
            seed = (
                select(link.c.artifact_id.label("id")).where(link.c.run_id == root.id)
                if direction == "upstream"
                else select(art.c.id.label("id")).where(art.c.run_id == root.id)
            )
            limit = None if depth is None else depth - 1
        else:
            seed, limit = select(literal(root.id).label("id")), depth
        reached = _walk_artifacts(session, seed, direction, limit) if (limit is None or limit >= 0) else {}
        artifacts = _load(session, Artifact, set(reached))
        by_id = {a.id: a for a in artifacts}
        # Runs inside the limit: those one step beyond an artifact that is not on the last layer.
        inner = {i for i, d in reached.items() if d is None or d < limit}
        reads: list[tuple[int, int]] = []
        for chunk in _chunks(sorted(reached)):
            reads += session.execute(
                select(link.c.run_id, link.c.artifact_id).where(link.c.artifact_id.in_(chunk))
            ).all()
        if direction == "upstream":
            run_ids = {by_id[i].run_id for i in inner if by_id[i].run_id is not None}
        else:
            run_ids = {r for r, a in reads if a in inner}
        if isinstance(root, Run):
            run_ids.add(root.id)
        runs = _load(session, Run, run_ids)
        run_uid = {r.id: r.uid for r in runs}
        edges = {(by_id[a].uid, run_uid[r]) for r, a in reads if r in run_uid and a in by_id}
        edges |= {(run_uid[a.run_id], a.uid) for a in artifacts if a.run_id in run_uid}
    finally:
        store.release()
    return Lineage(
        root=root,
        direction=direction,
        runs=sorted(runs, key=lambda r: r.id),
        artifacts=sorted(artifacts, key=lambda a: a.id),
        edges=sorted(edges),
    )


def _chunks(values: list[int]):
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _load(session, model, ids: set[int]) -> list:
    out = []
    for chunk in _chunks(sorted(ids)):
        out += session.scalars(select(model).where(model.id.in_(chunk))).all()
    return out


def upstream(record: Any, depth: int | None = None) -> Lineage:
    """Everything that led to `record` (an Artifact or a Run)."""
    return walk(record, "upstream", depth)


def downstream(record: Any, depth: int | None = None) -> Lineage:
    """Everything that came from `record` (an Artifact or a Run)."""
    return walk(record, "downstream", depth)


__all__ = ["Lineage", "downstream", "upstream", "walk"]
