"""Why an output changed: walk its upstream lineage in both runs to the earliest differences.

The walk follows the lineage links each snapshot holds (a step's `input_artifacts`, the step that
wrote each file through `output_artifacts`): from the step that wrote a changed output to its
changed inputs, from each of those to the step that wrote it, and so on. It stops at the
earliest differences, the causes: an input file no step of the run wrote, a param, a step's
code or environment, or a package of the run's environment. Each path from the output to a
cause is one chain, written as `out/summary.txt changed ← summary re-ran ← in/b.txt changed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowprov.diff.snapshot import Snapshot

ARROW = " ← "


def _node(kind: str, name: str, text: str) -> dict[str, str]:
    return {"kind": kind, "name": name, "text": text}


def value_text(v: Any) -> str:
    return "(none)" if v is None else str(v)


def param_causes(entries: list[dict[str, Any]], owner: str) -> list[dict[str, str]]:
    out = []
    for p in entries:
        if p["change"] == "changed":
            text = f"param {p['path']}: {value_text(p['a'])} → {value_text(p['b'])}"
        else:
            text = f"param {p['path']} {p['change']}"
        out.append(_node("param", p["path"], text + (f" ({owner})" if owner else "")))
    return out


@dataclass
class WhyContext:
    a: Snapshot
    b: Snapshot
    steps: dict[str, dict[str, Any]]  # children-layer entries by step key
    run_causes: list[dict[str, str]]  # the top-level run's own differences (params, code, packages)

    def __post_init__(self) -> None:
        self.name_by_uid = {**self.a.file_names(), **self.b.file_names()}
        self.producer_a = {x.uid: s.key for x, s in ((x, s) for s in self.a.steps.values() for x in s.outputs)}
        self.producer_b = {x.uid: s.key for x, s in ((x, s) for s in self.b.steps.values() for x in s.outputs)}

    def file_name(self, entry: dict[str, Any]) -> str:
        side = entry["b"] or entry["a"]
        return self.name_by_uid.get(side["uid"], entry["name"])

    def producer(self, entry: dict[str, Any]) -> str | None:
        """The step that wrote this file in B (else in A), if one of the steps did."""
        if entry["b"] and entry["b"]["uid"] in self.producer_b:
            return self.producer_b[entry["b"]["uid"]]
        if entry["a"] and entry["a"]["uid"] in self.producer_a:
            return self.producer_a[entry["a"]["uid"]]
        return None


def _file_change(ctx: WhyContext, f: dict[str, Any]) -> str:
    return f"{ctx.file_name(f)} {f['change']}"


def _step_causes(ctx: WhyContext, step: dict[str, Any]) -> list[dict[str, str]]:
    label = step["name"]
    if step["change"] in ("added", "removed"):
        return [_node("step", label, f"step {label} {step['change']}")]
    causes = param_causes(step.get("params", []), label)
    if step.get("code"):
        causes.append(_node("code", label, f"code of {label} changed"))
    if "environment" in step.get("differences", []):
        causes.append(_node("environment", label, f"environment of {label} changed"))
    return causes


def explain_step(ctx: WhyContext, key: str, seen: frozenset[str]) -> list[list[dict[str, str]]]:
    """Chains (each a list of nodes, the cause last) from a step that re-ran to its earliest differences."""
    step = ctx.steps.get(key)
    if step is None or key in seen:
        return []
    chains: list[list[dict[str, str]]] = [[c] for c in _step_causes(ctx, step)]
    for f in step.get("inputs", []):
        node = _node("input", ctx.file_name(f), _file_change(ctx, f))
        upstream = ctx.producer(f)
        if upstream is None:
            chains.append([node])
            continue
        sub = explain_step(ctx, upstream, seen | {key})
        label = ctx.steps[upstream]["name"] if upstream in ctx.steps else upstream
        ran = _node("step", label, f"{label} re-ran")
        chains += [[node, ran, *chain] for chain in sub] or [[node, ran]]
    if not chains:  # the step recorded no difference of its own: the run's own differences explain it
        chains = [[{**c, "text": c["text"] + " (of the whole run)"}] for c in ctx.run_causes]
        chains = chains or [[_node("unknown", step["name"], "no recorded difference")]]
    return chains


def explain_run(ctx: WhyContext, inputs: list[dict[str, Any]]) -> list[list[dict[str, str]]]:
    """Chains for an output the run itself wrote (a script): its changed inputs and own differences."""
    chains = [[c] for c in ctx.run_causes]
    chains += [[_node("input", ctx.file_name(f), _file_change(ctx, f))] for f in inputs if f["change"] != "same"]
    return chains or [[_node("unknown", "", "no recorded difference in the run")]]


def why(ctx: WhyContext, outputs: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One explanation per output whose bytes changed."""
    out = []
    for f in outputs:
        if f["change"] != "changed":
            continue
        head = _node("output", ctx.file_name(f), f"{ctx.file_name(f)} changed")
        key = ctx.producer(f)
        if key is not None:
            label = ctx.steps[key]["name"] if key in ctx.steps else key
            ran = _node("step", label, f"{label} re-ran")
            chains = [[head, ran, *c] for c in explain_step(ctx, key, frozenset())] or [[head, ran]]
        else:
            chains = [[head, *c] for c in explain_run(ctx, inputs)]
        rendered = [{"nodes": c, "cause": c[-1], "text": ARROW.join(n["text"] for n in c)} for c in chains]
        causes = sorted({c[-1]["text"] for c in chains})
        out.append({"output": ctx.file_name(f), "chains": rendered, "causes": causes})
    return out
