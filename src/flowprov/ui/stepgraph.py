"""The lineage of a large workflow run grouped by step, counted by the database (GROUP BY).

For a run with more child runs than `graph.COLLAPSE_AT` (a Nextflow launch with 10,000 tasks), the
grouped graph needs counts, not rows: how many runs of each step (by status), how many files each
step wrote, and how many files each step read from which other step (or from outside). Three
aggregate queries give that, so the page costs the same for 1,000 or 100,000 tasks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, distinct, func, select

from flowprov.core.registry import Artifact, Run, Transform
from flowprov.core.registry.links import run_input_artifact
from flowprov.core.registry.run import STATUS_NAMES
from flowprov.core.store.connection import Store

STATUS_RANK = {"errored": 5, "aborted": 4, "started": 3, "restarted": 2, "scheduled": 1, "completed": 0}


def child_count(store: Store, run: Any) -> int:
    return store.session.execute(
        select(func.count()).select_from(Run).where(Run.initiated_by_run_id == run.id)
    ).scalar_one()


def _counts(store: Store, workflow_id: int) -> tuple[list[Any], list[Any], list[Any]]:
    run, art, link = Run.__table__, Artifact.__table__, run_input_artifact
    child, producer = run.alias("child"), run.alias("producer")
    in_workflow = child.c.initiated_by_run_id == workflow_id
    conn = store.session.connection()
    steps = conn.execute(
        select(child.c.transform_id, child.c._status_code, func.count())
        .where(in_workflow)
        .group_by(child.c.transform_id, child.c._status_code)
    ).all()
    written = conn.execute(
        select(child.c.transform_id, func.count())
        .select_from(art.join(child, art.c.run_id == child.c.id))
        .where(in_workflow)
        .group_by(child.c.transform_id)
    ).all()
    read = conn.execute(
        select(child.c.transform_id, producer.c.transform_id, func.count(distinct(link.c.artifact_id)))
        .select_from(
            link.join(child, link.c.run_id == child.c.id)
            .join(art, art.c.id == link.c.artifact_id)
            .outerjoin(producer, and_(producer.c.id == art.c.run_id, producer.c.initiated_by_run_id == workflow_id))
        )
        .where(in_workflow)
        .group_by(child.c.transform_id, producer.c.transform_id)
    ).all()
    return list(steps), list(written), list(read)


def _step_names(store: Store, transform_ids: set[int]) -> dict[int, tuple[str, str]]:
    rows = store.session.execute(
        select(Transform.id, Transform.uid, Transform.key, Transform.name).where(Transform.id.in_(transform_ids))
    ).all()
    return {tid: (uid, (key or name or uid).rsplit("#", 1)[-1]) for tid, uid, key, name in rows}


def grouped_workflow(store: Store, workflow: Any) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """Nodes (by id) and edges of `workflow`'s child runs grouped by step, with files grouped by the
    step that wrote them (`files:inputs` for files from outside the workflow)."""
    steps, written, read = _counts(store, workflow.id)
    names = _step_names(store, {t for t, _, _ in steps})
    wf = workflow.uid
    nodes: dict[str, dict[str, Any]] = {
        wf: {
            "id": wf,
            "count": 1,
            "label": workflow.name or workflow.transform.key or wf,
            "kind": "workflow",
            "status": workflow.status,
            "href": f"/runs/{wf}",
        }
    }
    step_id = {tid: f"step:{wf}:{uid}" for tid, (uid, _) in names.items()}
    for tid, code, count in steps:
        node = nodes.setdefault(
            step_id[tid],
            {
                "id": step_id[tid],
                "count": 0,
                "label": names[tid][1],
                "kind": "step",
                "status": "completed",
                "parent": wf,
                "href": f"/runs?transform__uid={names[tid][0]}&initiated_by_run__uid={wf}",
            },
        )
        node["count"] += count
        status = STATUS_NAMES.get(code, "unknown")
        if STATUS_RANK.get(status, 0) > STATUS_RANK.get(node["status"], 0):
            node["status"] = status
    edges: set[tuple[str, str]] = set()
    for tid, count in written:
        files = f"files:{step_id[tid]}"
        nodes[files] = {"id": files, "count": count, "label": "files", "kind": "files"}
        edges.add((step_id[tid], files))
    for consumer, producer, count in read:
        files = f"files:{step_id[producer]}" if producer in step_id else "files:inputs"
        if files not in nodes:
            nodes[files] = {"id": files, "count": 0, "label": "files", "kind": "files"}
        if files == "files:inputs":  # files from outside, summed over the steps that read them
            nodes[files]["count"] += count
        edges.add((files, step_id[consumer]))
    return nodes, edges
