"""The lineage graph the UI draws: batched walks (two queries per level), then a size-aware view.

A level is one run step, as in `flowprov lineage --depth`. Focused on a workflow run (one with
child runs), the walk starts from its child runs, which are drawn inside it (a compound node);
`group="workflow"` draws each workflow as one node instead. Beyond COLLAPSE_AT runs the view
collapses by step: one node per (workflow, step) with a count, and one node per group of files,
so a 10,000-task Nextflow launch draws as its few dozen processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from flowprov.core.registry import Artifact, Run, Transform
from flowprov.core.registry.links import run_input_artifact, run_output_artifact
from flowprov.core.registry.run import STATUS_NAMES
from flowprov.core.store.connection import Store
from flowprov.ui.stepgraph import STATUS_RANK, child_count, grouped_workflow

COLLAPSE_AT = 150  # runs drawn one by one up to this many
MAX_NODES = 50_000  # stop walking beyond this many records
MAX_DEPTH = 50


@dataclass
class Walk:
    """Ids reached and the edges between them, as ("r"|"a", id) pairs."""

    runs: set[int] = field(default_factory=set)
    artifacts: set[int] = field(default_factory=set)
    edges: set[tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=set)
    truncated: bool = False


def _in(store: Store, column: Any, ids: Iterable[int]) -> Any:
    """`column IN ids` with the ids as one parameter (a JSON array on SQLite, an array on
    PostgreSQL): 10,000 ids cost one bind instead of 10,000 expanded ones."""
    values = sorted(ids)
    if store.dialect == "postgresql":
        return column == func.any(bindparam(None, values, type_=ARRAY(BigInteger)))
    return column.in_(select(func.json_each(bindparam(None, json.dumps(values))).table_valued("value").c.value))


def _rows(store: Store, make_query: Any, ids: Iterable[int]) -> list[Any]:
    """The rows of `make_query(isin)`, where `isin(column)` is the condition `column IN ids`."""
    ids = list(ids)
    if not ids:
        return []
    return list(store.session.connection().execute(make_query(lambda column: _in(store, column, ids))).all())


def _inputs_of(store: Store, run_ids: set[int]) -> list[tuple[int, int]]:
    link = run_input_artifact
    return [
        (r, a)
        for r, a in _rows(store, lambda c: select(link.c.run_id, link.c.artifact_id).where(c(link.c.run_id)), run_ids)
    ]


def _readers_of(store: Store, artifact_ids: set[int]) -> list[tuple[int, int]]:
    link = run_input_artifact
    query = lambda c: select(link.c.run_id, link.c.artifact_id).where(c(link.c.artifact_id))  # noqa: E731
    return [(r, a) for r, a in _rows(store, query, artifact_ids)]


def _outputs_of(store: Store, run_ids: set[int]) -> list[tuple[int, int]]:
    """Everything the runs wrote (the per-run output links: also bytes an earlier run created)."""
    link = run_output_artifact
    query = lambda c: select(link.c.run_id, link.c.artifact_id).where(c(link.c.run_id)).distinct()  # noqa: E731
    return [(r, a) for r, a in _rows(store, query, run_ids)]


def _producers_of(store: Store, artifact_ids: set[int]) -> list[tuple[int, int]]:
    """Every run that wrote these bytes (first creator and later writers)."""
    link = run_output_artifact
    query = lambda c: select(link.c.run_id, link.c.artifact_id).where(c(link.c.artifact_id)).distinct()  # noqa: E731
    return [(r, a) for r, a in _rows(store, query, artifact_ids)]


def walk_ids(store: Store, focus: Any, direction: str, depth: int) -> Walk:
    """Run and artifact ids within `depth` run steps of `focus` (an Artifact or a Run)."""
    found = Walk()
    if isinstance(focus, Run):
        children = set(store.session.scalars(select(Run.id).where(Run.initiated_by_run_id == focus.id)))
        found.runs = {focus.id} | children
        # the focus runs' own inputs and outputs are the first level in both directions
        frontier = _add_run_files(store, found, found.runs, direction)
        depth -= 1
    else:
        found.artifacts, frontier = {focus.id}, {focus.id}
    while frontier and depth > 0:
        if len(found.runs) + len(found.artifacts) > MAX_NODES:
            found.truncated = True
            break
        pairs = _producers_of(store, frontier) if direction == "upstream" else _readers_of(store, frontier)
        new_runs = {r for r, _ in pairs} - found.runs
        found.edges |= {(("r", r), ("a", a)) if direction == "upstream" else (("a", a), ("r", r)) for r, a in pairs}
        found.runs |= new_runs
        frontier = _add_run_files(store, found, new_runs, direction, outputs_too=False)
        depth -= 1
    return found


def _add_run_files(store: Store, found: Walk, run_ids: set[int], direction: str, outputs_too: bool = True) -> set[int]:
    """Add the files of `run_ids` in the walk's direction (and, for the focus, the other way too);
    returns the files not seen before in the walk's direction."""
    ins = _inputs_of(store, run_ids) if (direction == "upstream" or outputs_too) else []
    outs = _outputs_of(store, run_ids) if (direction == "downstream" or outputs_too) else []
    found.edges |= {(("a", a), ("r", r)) for r, a in ins} | {(("r", r), ("a", a)) for r, a in outs}
    ahead = {a for _, a in (ins if direction == "upstream" else outs)} - found.artifacts
    found.artifacts |= {a for _, a in ins} | {a for _, a in outs}
    return ahead


def _load_runs(store: Store, ids: set[int]) -> dict[int, dict[str, Any]]:
    cols = (Run.id, Run.uid, Run.name, Run._status_code, Run.initiated_by_run_id, Run.transform_id)
    rows = _rows(store, lambda c: select(*cols).where(c(Run.id)), ids)
    steps = {}
    transform_cols = (Transform.id, Transform.uid, Transform.key, Transform.name)
    for tid, tuid, key, name in _rows(
        store, lambda c: select(*transform_cols).where(c(Transform.id)), {r[5] for r in rows}
    ):
        steps[tid] = (tuid, (key or name or tuid).rsplit("#", 1)[-1])
    out = {}
    for rid, uid, name, code, parent_id, tid in rows:
        tuid, step = steps[tid]
        out[rid] = {
            "uid": uid,
            "label": name or step,
            "step": step,
            "transform_uid": tuid,
            "status": STATUS_NAMES.get(code, "unknown"),
            "parent_id": parent_id,
        }
    return out


def _load_artifacts(store: Store, ids: set[int], labels: bool = True) -> dict[int, dict[str, Any]]:
    """Artifacts by id; without `labels` only which run wrote each (enough to group them)."""
    if not labels:
        return {
            aid: {"run_id": run_id}
            for aid, run_id in _rows(store, lambda c: select(Artifact.id, Artifact.run_id).where(c(Artifact.id)), ids)
        }
    cols = (Artifact.id, Artifact.uid, Artifact.key, Artifact.path, Artifact.size, Artifact.run_id)
    out = {}
    for aid, uid, key, path, size, run_id in _rows(store, lambda c: select(*cols).where(c(Artifact.id)), ids):
        label = key or (path or "").rstrip("/").rsplit("/", 1)[-1] or uid
        out[aid] = {"uid": uid, "label": label, "size": size, "run_id": run_id}
    return out


@dataclass
class View:
    """Cytoscape elements: node and edge `data` dicts, keyed by node id."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def add(self, node_id: str, **data: Any) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            self.nodes[node_id] = {"id": node_id, "count": 1, **data}
            return
        node["count"] += 1
        if STATUS_RANK.get(data.get("status", ""), 0) > STATUS_RANK.get(node.get("status", ""), 0):
            node["status"] = data["status"]


def lineage_view(
    store: Store, focus: Any, direction: str = "upstream", depth: int = 3, group: str = "auto"
) -> dict[str, Any]:
    """The graph of `focus` as cytoscape elements. `group`: "auto" (by step beyond COLLAPSE_AT
    runs), "step" (always), "none" (never) or "workflow" (each workflow run as one node)."""
    if direction not in ("upstream", "downstream"):
        raise ValueError(f"direction={direction!r}: use upstream or downstream")
    if group not in ("auto", "step", "none", "workflow"):
        raise ValueError(f"group={group!r}: use auto, step, none or workflow")
    depth = max(1, min(depth, MAX_DEPTH))
    try:
        if isinstance(focus, Run) and group in ("auto", "step") and child_count(store, focus) > COLLAPSE_AT:
            # counted by the database: the page costs the same for 1,000 or 100,000 tasks
            view = View()
            view.nodes, view.edges = grouped_workflow(store, focus)
            return _elements(view, focus, direction, depth, True, False) | {"scope": "workflow"}
        found = walk_ids(store, focus, direction, depth)
        runs = _load_runs(store, found.runs)
        missing = {r["parent_id"] for r in runs.values() if r["parent_id"] and r["parent_id"] not in runs}
        workflows = {
            **_load_runs(store, missing),
            **{i: runs[i] for i in {r["parent_id"] for r in runs.values()} if i in runs},
        }
        collapsed = group == "step" or (group == "auto" and len(runs) > COLLAPSE_AT)
        artifacts = _load_artifacts(store, found.artifacts, labels=not collapsed)
        if collapsed and isinstance(focus, Artifact):
            artifacts.update(_load_artifacts(store, {focus.id}))
    finally:
        store.release()
    view, node_of = View(), {}
    for wid, wf in workflows.items():
        outer = workflows.get(wf["parent_id"]) if wf["parent_id"] else None
        view.add(
            wf["uid"],
            label=wf["label"],
            kind="workflow",
            status=wf["status"],
            parent=outer["uid"] if outer is not None and group != "workflow" else None,
            href=f"/runs/{wf['uid']}",
        )
        node_of[("r", wid)] = wf["uid"]
    for rid, run in runs.items():
        if rid not in workflows:
            node_of[("r", rid)] = _add_run(view, run, workflows, group, collapsed)
    for aid, art in artifacts.items():
        node_of[("a", aid)] = _add_artifact(view, aid, art, focus, node_of, collapsed)
    for src, dst in found.edges:
        a, b = node_of.get(src), node_of.get(dst)
        if a and b and a != b and view.nodes[b].get("parent") != a and view.nodes[a].get("parent") != b:
            view.edges.add((a, b))
    return _elements(view, focus, direction, depth, collapsed, found.truncated)


def _add_run(view: View, run: dict[str, Any], workflows: dict[int, Any], group: str, collapsed: bool) -> str:
    parent = workflows.get(run["parent_id"]) if run["parent_id"] else None
    if parent is not None and group == "workflow":
        return parent["uid"]
    parent_uid = parent["uid"] if parent is not None else None
    if collapsed:
        node_id = f"step:{parent_uid or '-'}:{run['transform_uid']}"
        href = f"/runs?transform__uid={run['transform_uid']}" + (
            f"&initiated_by_run__uid={parent_uid}" if parent_uid else ""
        )
        view.add(node_id, label=run["step"], kind="step", status=run["status"], parent=parent_uid, href=href)
        return node_id
    view.add(
        run["uid"], label=run["label"], kind="run", status=run["status"], parent=parent_uid, href=f"/runs/{run['uid']}"
    )
    return run["uid"]


def _add_artifact(view: View, aid: int, art: dict[str, Any], focus: Any, node_of: dict, collapsed: bool) -> str:
    if collapsed and not (isinstance(focus, Artifact) and focus.id == aid):
        producer = node_of.get(("r", art["run_id"])) if art["run_id"] else None
        node_id = f"files:{producer or 'inputs'}"
        view.add(node_id, label="files", kind="files")
        return node_id
    view.add(art["uid"], label=art["label"], kind="artifact", size=art["size"], href=f"/artifacts/{art['uid']}")
    return art["uid"]


def _elements(view: View, focus: Any, direction: str, depth: int, collapsed: bool, truncated: bool) -> dict[str, Any]:
    for node in view.nodes.values():
        if node["kind"] in ("step", "files") and node["count"] > 1:
            node["label"] = f"{node['label']} ×{node['count']}"
        if node.get("parent") is None:
            node.pop("parent", None)
    nodes = sorted(view.nodes.values(), key=lambda n: n["id"])
    edges = [{"id": f"{a}->{b}", "source": a, "target": b} for a, b in sorted(view.edges)]
    return {
        "focus": focus.uid,
        "direction": direction,
        "depth": depth,
        "collapsed": collapsed,
        "truncated": truncated,
        "nodes": [{"data": n} for n in nodes],
        "edges": [{"data": e} for e in edges],
    }


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def to_dot(elements: dict[str, Any]) -> str:
    """Graphviz DOT for the elements (workflow runs as clusters), for the no-JavaScript view."""
    nodes = [n["data"] for n in elements["nodes"]]
    parents = {n.get("parent") for n in nodes} - {None}
    lines = ["digraph lineage {", "  rankdir=TB; node [fontname=Helvetica, fontsize=10];"]

    def node_line(n: dict[str, Any]) -> str:
        shape = "box" if n["kind"] in ("artifact", "files") else "ellipse"
        color = {"errored": "#f8d0d0", "completed": "#d6f0d6", "aborted": "#f0e0c0"}.get(n.get("status", ""), "#eeeeee")
        return f'  "{_dot_text(n["id"])}" [shape={shape}, style=filled, fillcolor="{color}", label="{_dot_text(n["label"])}"];'

    for i, parent in enumerate(sorted(parents)):
        label = next((n["label"] for n in nodes if n["id"] == parent), parent)
        lines.append(f'  subgraph cluster_{i} {{ label="{_dot_text(label)}";')
        lines += ["  " + node_line(n) for n in nodes if n.get("parent") == parent]
        lines.append("  }")
    lines += [node_line(n) for n in nodes if n.get("parent") is None and n["id"] not in parents]
    lines += [f'  "{_dot_text(e["data"]["source"])}" -> "{_dot_text(e["data"]["target"])}";' for e in elements["edges"]]
    lines.append("}")
    return "\n".join(lines)


def render_svg(dot_source: str, timeout: float = 20.0) -> bytes | None:
    """SVG from Graphviz `dot`, or None when it is not installed (or fails)."""
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=timeout, check=True
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return done.stdout
