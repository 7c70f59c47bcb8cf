"""Step runs of two runs, matched by step transform and name, each pair compared layer by layer.

A step is "added" or "removed" when only one run has it; "changed" when its status, params,
code (the step transform's source, or the task's own script `aux["command_sh"]`), environment,
inputs or outputs differ; "same" otherwise. Whether the step re-ran or was reused from the
earlier run (a cache hit, a resumed Nextflow task) is reported beside the change, never as one.
"""

from __future__ import annotations

from typing import Any

from flowprov.diff.files import FileComparisons
from flowprov.diff.layers import SAME, compare_params, source_diff, unified_diff
from flowprov.diff.snapshot import Snapshot, Step


def _code(a: Any, b: Any) -> dict[str, Any] | None:
    """How the code of two step runs differs, or None. A changed step source is diffed once per step
    transform in the layer's `source_diffs`, not once per run of it."""
    if a.transform.hash != b.transform.hash:
        return {"what": "source", "a": a.transform.hash, "b": b.transform.hash, "diff": None}
    sh_a, sh_b = (a.aux or {}).get("command_sh"), (b.aux or {}).get("command_sh")
    if sh_a != sh_b and (sh_a or sh_b):
        diff = unified_diff(sh_a or "", sh_b or "", "a/.command.sh", "b/.command.sh")
        return {"what": "command_sh", "a": None, "b": None, "diff": diff}
    return None


def _describe(step: Step) -> dict[str, Any]:
    run = step.run
    return {"uid": run.uid, "status": run.status, "cached": step.cached, "attempts": step.attempts}


def compare_steps(sa: Step, sb: Step, files: FileComparisons) -> dict[str, Any]:
    ra, rb = sa.run, sb.run
    entry: dict[str, Any] = {"key": sb.key, "step": sb.key.split("|", 1)[0], "name": sb.label}
    entry["a"], entry["b"] = _describe(sa), _describe(sb)
    entry["rerun"] = ra.id != rb.id and not sb.cached
    if ra.id == rb.id:  # the very same run record: reused, nothing can differ
        entry.update(change=SAME, differences=[], params=[], code=None, inputs=[], outputs=[])
        return entry
    params = [p for p in compare_params(ra.params.get_values(), rb.params.get_values()) if p["change"] != SAME]
    inputs, outputs = files(sa.inputs, sb.inputs), files(sa.outputs, sb.outputs)
    code = _code(ra, rb)
    differences = [
        name
        for name, differs in (
            ("status", ra.status != rb.status),
            ("params", bool(params)),
            ("code", code is not None),
            ("environment", ra.environment_id != rb.environment_id),
            ("inputs", any(f["change"] != SAME for f in inputs)),
            ("outputs", any(f["change"] != SAME for f in outputs)),
        )
        if differs
    ]
    entry.update(
        change="changed" if differences else SAME,
        differences=differences,
        params=params,
        code=code,
        inputs=[f for f in inputs if f["change"] != SAME],
        outputs=[f for f in outputs if f["change"] != SAME],
    )
    return entry


def children_layer(a: Snapshot, b: Snapshot, files: FileComparisons) -> dict[str, Any]:
    entries = []
    for key in sorted(set(a.steps) | set(b.steps)):
        sa, sb = a.steps.get(key), b.steps.get(key)
        if sa is not None and sb is not None:
            entries.append(compare_steps(sa, sb, files))
            continue
        only = sa or sb
        assert only is not None
        entry: dict[str, Any] = {"key": key, "step": key.split("|", 1)[0], "name": only.label}
        entry.update(change="removed" if sb is None else "added", differences=[])
        entry["a"], entry["b"] = (_describe(sa) if sa else None), (_describe(sb) if sb else None)
        entries.append(entry)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["change"]] = counts.get(e["change"], 0) + 1
    counts["rerun"] = sum(1 for e in entries if e.get("rerun"))
    counts["cached"] = sum(1 for e in entries if e["b"] and e["b"]["cached"])
    return {"entries": entries, "counts": counts, "source_diffs": _source_diffs(a, b, entries)}


def _source_diffs(a: Snapshot, b: Snapshot, entries: list[dict[str, Any]]) -> dict[str, str]:
    """step transform key -> the unified diff of its source, for each step whose source changed."""
    out: dict[str, str] = {}
    for e in entries:
        if e.get("code") and e["code"]["what"] == "source" and e["step"] not in out:
            ta, tb = a.steps[e["key"]].run.transform, b.steps[e["key"]].run.transform
            out[e["step"]] = source_diff(ta, tb, e["step"])
    return out
