"""Compare two runs layer by layer, in the order the diff shows them.

Queries: one snapshot per run (a fixed handful, see snapshot.py), plus each run's environment and
lock files. Everything else is computed in memory, so two 1,000-step runs cost the same number
of queries as two scripts.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flowprov.diff.children import children_layer
from flowprov.diff.files import FileComparisons, describe_file
from flowprov.diff.layers import (
    SAME,
    environment_layer,
    facts_layer,
    metric_ratios,
    params_layer,
    transform_layer,
)
from flowprov.diff.result import SCHEMA_VERSION, RunDiff
from flowprov.diff.snapshot import Snapshot, artifact_columns, artifact_rows, load_snapshot
from flowprov.diff.why import WhyContext, param_causes, value_text, why


def describe_side(run: Any) -> dict[str, Any]:
    t = run.transform
    return {
        "uid": run.uid,
        "name": run.name,
        "reference": run.reference,
        "reference_type": run.reference_type,
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "transform": {"uid": t.uid, "key": t.key, "name": t.name, "version": t.version_tag, "type": t.type},
    }


def _lock_files(run: Any) -> list[Any]:
    from sqlalchemy import select

    from flowprov.core.registry import Artifact

    uids = list((run.aux or {}).get("environment_files", []))
    if not uids:
        return []
    return artifact_rows(select(*artifact_columns()).where(Artifact.uid.in_(uids)).order_by(Artifact.id))


def _renamed(entries: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    for e in entries:
        side = e["b"] or e["a"]
        e["name"] = names.get(side["uid"], e["name"])
    return entries


def files_layer(sa: Snapshot, sb: Snapshot, names: dict[str, str], files: FileComparisons) -> dict[str, Any]:
    """The run's inputs, and every output of the run and its steps (step outputs matched within each step)."""
    outputs = list(files(sa.outputs, sb.outputs))
    for key in sorted(set(sa.steps) | set(sb.steps)):
        step_a, step_b = sa.steps.get(key), sb.steps.get(key)
        outputs += files(step_a.outputs if step_a else [], step_b.outputs if step_b else [])
    seen: set[tuple[str | None, str | None]] = set()
    unique = []
    for e in outputs:
        ident = ((e["a"] or {}).get("uid"), (e["b"] or {}).get("uid"))
        if ident not in seen:
            seen.add(ident)
            unique.append(e)
    inputs = _renamed(list(files(sa.inputs, sb.inputs)), names)
    return {"inputs": inputs, "outputs": sorted(_renamed(unique, names), key=lambda e: e["name"])}


def _run_causes(layers: dict[str, Any]) -> list[dict[str, str]]:
    """The top-level run's own differences that can explain an output: params, code, packages."""
    causes = param_causes([p for p in layers["params"]["entries"] if p["change"] != SAME], "")
    if layers["transform"]["source_diff"]:
        causes.append({"kind": "code", "name": "transform", "text": "the run's code changed"})
    for p in layers["environment"]["entries"]:
        if p["change"] != SAME:
            text = f"package {p['package']} {value_text(p['a'])} → {value_text(p['b'])}"
            causes.append({"kind": "package", "name": p["package"], "text": text})
    for f in layers["environment"]["lock_files"]:
        if f["change"] != SAME:
            causes.append({"kind": "lock_file", "name": f["name"], "text": f"lock file {f['name']} {f['change']}"})
    if layers["environment"]["packages_unreadable"]:
        causes.append({"kind": "environment", "name": "environment", "text": "the environment changed"})
    return causes


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a large diff allocates many small dicts and lists, none
    of them in reference cycles, and collections triggered by them took a third of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compare(a: Any, b: Any, *, max_text_bytes: int, metrics_threshold: float) -> RunDiff:
    with gc_paused():
        return _compare(a, b, max_text_bytes=max_text_bytes, metrics_threshold=metrics_threshold)


def _compare(a: Any, b: Any, *, max_text_bytes: int, metrics_threshold: float) -> RunDiff:
    sa, sb = load_snapshot(a), load_snapshot(b)
    names = {**sa.file_names(), **sb.file_names()}
    files = FileComparisons(max_text_bytes)
    layers: dict[str, Any] = {
        "transform": transform_layer(a, b),
        "params": params_layer(a, b),
        "environment": environment_layer(a, b, _lock_files(a), _lock_files(b), max_text_bytes),
        "files": files_layer(sa, sb, names, files),
        "children": children_layer(sa, sb, files),
        "facts": facts_layer(a, b),
    }
    pairs = [
        (sb.steps[key].label, sa.steps[key].run, sb.steps[key].run)
        for key in sorted(set(sa.steps) & set(sb.steps))
        if sa.steps[key].run.id != sb.steps[key].run.id
    ]
    layers["facts"]["metrics"] = metric_ratios(pairs, metrics_threshold)
    layers["facts"]["metrics_threshold"] = metrics_threshold
    for entry in layers["children"]["entries"]:  # step files named as in the run, not within the step
        _renamed(entry.get("inputs", []), names)
        _renamed(entry.get("outputs", []), names)
    steps = {e["key"]: e for e in layers["children"]["entries"]}
    ctx = WhyContext(sa, sb, steps, _run_causes(layers))
    explained = why(ctx, layers["files"]["outputs"], layers["files"]["inputs"])
    return RunDiff(
        {
            "schema_version": SCHEMA_VERSION,
            "a": describe_side(a),
            "b": describe_side(b),
            "layers": layers,
            "why": explained,
        }
    )


__all__ = ["compare", "describe_file"]
