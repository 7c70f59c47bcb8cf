"""The data behind each page: a fixed, small number of queries per page, never one per row."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flowprov.core.query.q import Q
from flowprov.core.registry import Artifact, Run, Transform
from flowprov.core.registry.describe import describe_artifact, describe_run, describe_run_row, describe_transform
from flowprov.core.store.connection import Store
from flowprov.ui.filters import RunsQuery

MAX_CHILD_ROWS = 200  # child runs listed on a run page (a Nextflow launch can have 100,000 tasks)
MAX_ENVIRONMENT_BYTES = 1_000_000
SEARCH_WINDOW = 20_000  # the search box's substring match reads at most this many (the newest) runs


def runs_page(store: Store, query: RunsQuery) -> tuple[list[dict[str, Any]], bool]:
    """One page of runs as rows, and whether another page follows (one query, no count)."""
    qs = Run.using(store).filter(**query.lookups)
    start = (query.page - 1) * query.per_page
    stop = start + query.per_page + 1
    if query.search:
        runs = _search(qs, query.search, start, stop)
    else:
        qs = qs.order_by(query.sort, "-id" if query.sort.startswith("-") else "id")
        runs = qs.select_related("transform")[start:stop].list()
    rows = [describe_run_row(r) | {"transform_uid": r.transform.uid} for r in runs[: query.per_page]]
    return rows, len(runs) > query.per_page


def _search(qs: Any, text: str, start: int, stop: int) -> list[Any]:
    """Runs with this uid or reference (any age, by index); else, among the newest SEARCH_WINDOW
    runs, those whose name or reference contains `text`, newest first; else the registries'
    ranked, typo-tolerant `search()` over the same window."""
    exact = qs.filter(Q(uid=text) | Q(reference=text)).select_related("transform").order_by("-started_at", "-id")
    runs = exact[start:stop].list()
    if runs:
        return runs
    newest = select(Run.id).order_by(Run.started_at.desc()).limit(SEARCH_WINDOW).scalar_subquery()
    window = qs.filter(Run.id.in_(newest))
    contains = window.filter(Q(name__icontains=text) | Q(reference__icontains=text))
    runs = contains.select_related("transform").order_by("-started_at", "-id")[start:stop].list()
    if runs or start > 0:
        return runs
    return window.search(text, limit=stop).select_related("transform")[start:stop].list()


def run_detail(store: Store, uid: str) -> dict[str, Any]:
    """A run as `flowprov show --json` prints it, with its parent, child rows capped and packages."""
    run = Run.using(store).get(uid)
    data = describe_run(run, children=MAX_CHILD_ROWS)
    data["transform_uid"] = run.transform.uid
    data["initiated_by"] = describe_run_row(run.initiated_by_run) if run.initiated_by_run_id else None
    data["packages"] = environment_packages(run)
    return data


def environment_packages(run: Any) -> list[str]:
    """The package list of a run's environment artifact, when its file is still readable."""
    if not run.environment_id:
        return []
    env = run.environment
    try:
        path = Path(env.local_path)
        if path.stat().st_size > MAX_ENVIRONMENT_BYTES:
            return []
        lines = path.read_text(errors="replace").splitlines()
    except (OSError, ValueError, AttributeError):
        return []
    return [line for line in lines if line.strip() and not line.startswith("#")]


def artifact_detail(store: Store, uid: str) -> dict[str, Any]:
    """An artifact with its versions, the run that wrote it and the runs that read it."""
    artifact = Artifact.using(store).get(uid)
    data = describe_artifact(artifact)
    data["description"] = artifact.description
    data["run"] = describe_run_row(artifact.run) if artifact.run_id else None
    readers = artifact.input_of_runs.all().select_related("transform").order_by("id")[:MAX_CHILD_ROWS]
    data["input_of_runs"] = [describe_run_row(r) for r in readers]
    family = Artifact.using(store).filter(uid__startswith=artifact.uid[:16]).order_by("-id")[:200]
    data["versions"] = [describe_artifact(v) | {"version": v.version} for v in family]
    return data


def transform_detail(store: Store, uid: str, compare: str | None = None) -> dict[str, Any]:
    """A transform, its versions (newest first), recent runs and a source diff against `compare`
    (default: the version before it)."""
    transform = Transform.using(store).get(uid)
    family = Transform.using(store).filter(uid__startswith=transform.uid[:12]).order_by("-id")[:200].list()
    data = describe_transform(transform)
    data["source_code"] = transform.source_code
    data["versions"] = [describe_transform(v) for v in family]
    older = [v for v in family if v.id < transform.id]
    other = next((v for v in family if v.uid == compare), None) if compare else (older[0] if older else None)
    data["compared_with"] = other.uid if other is not None else None
    data["source_diff"] = source_diff(other, transform) if other is not None else []
    recent = Run.using(store).filter(transform=transform).select_related("transform").order_by("-id")[:50]
    data["runs"] = [describe_run_row(r) for r in recent]
    return data


def source_diff(old: Any, new: Any) -> list[str]:
    """Unified diff lines from one transform version's source to another's."""
    return list(
        difflib.unified_diff(
            (old.source_code or "").splitlines(),
            (new.source_code or "").splitlines(),
            fromfile=f"{old.key or old.name} {old.version_tag or old.uid}",
            tofile=f"{new.key or new.name} {new.version_tag or new.uid}",
            lineterm="",
        )
    )


def transforms_page(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    return [describe_transform(t) for t in Transform.using(store).filter().order_by("-id")[:limit]]


def artifacts_page(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    return [describe_artifact(a) for a in Artifact.using(store).filter().order_by("-id")[:limit]]
