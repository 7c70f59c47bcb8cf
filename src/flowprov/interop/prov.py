"""W3C PROV documents (PROV-JSON, PROV-N, PROV-JSONLD) from a selection, through the `prov` package.

Runs are Activities (start and end times, params as `flowprov:param_<key>` attributes), artifacts
Entities (content hash, size, location), transforms Plans (`prov:Plan` entities) bound to their
runs by a qualified association with the user's Agent; `used`, `wasGeneratedBy`,
`wasDerivedFrom` (each output from each input of the same run) and `wasInformedBy` (a child run
by its parent). Identifiers are `flowprov:run/<uid>` etc.; an imported run keeps its activity id.
"""

from __future__ import annotations

import json
from typing import Any

from flowprov.interop.selection import ArtifactView, RunView, Selection, TransformView

NAMESPACE = "https://w3id.org/flowprov/ns#"
PREFIX = "flowprov"
REFERENCE_TYPE = "prov_activity"
PLAN_REFERENCE_TYPE = "prov_plan"
FORMATS = {"prov-json": "json", "prov-n": "provn", "prov-jsonld": "jsonld"}


def activity_id(run: RunView) -> str:
    if run.reference_type == REFERENCE_TYPE and run.reference:
        return run.reference
    return f"{PREFIX}:run/{run.uid}"


def plan_id(t: TransformView) -> str:
    if t.reference_type == PLAN_REFERENCE_TYPE and t.reference:
        return t.reference
    return f"{PREFIX}:transform/{t.uid}"


def to_document(selection: Selection) -> Any:
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace(PREFIX, NAMESPACE)
    plans: set[str] = set()
    entities: set[str] = set()
    for run in selection.runs:
        plan = _plan(doc, run.transform, plans)
        activity = _activity(doc, run)
        agent = f"{PREFIX}:user/{run.user}" if run.user else None
        if agent and agent not in entities:
            entities.add(agent)
            doc.agent(agent, {"prov:type": "prov:Person", "prov:label": run.user})
        doc.wasAssociatedWith(activity, agent, plan)
        parent = selection.run(run.parent_uid) if run.parent_uid else None
        if parent is not None:
            doc.wasInformedBy(activity, activity_id(parent))
        inputs = [selection.artifacts[u] for u in run.inputs if u in selection.artifacts]
        outputs = [selection.artifacts[u] for u in run.outputs if u in selection.artifacts]
        for artifact in inputs:
            doc.used(activity, _entity(doc, artifact, entities))
        for artifact in outputs:
            doc.wasGeneratedBy(_entity(doc, artifact, entities), activity)
            for source in inputs:
                doc.wasDerivedFrom(_entity_id(artifact), _entity_id(source), activity)
    return doc


def _plan(doc: Any, t: TransformView, seen: set[str]) -> str:
    plan = plan_id(t)
    if plan not in seen:
        seen.add(plan)
        attrs: dict[str, Any] = {"prov:type": "prov:Plan", "prov:label": t.name or t.key, f"{PREFIX}:key": t.key}
        attrs[f"{PREFIX}:transform_type"] = t.type
        if t.version:
            attrs[f"{PREFIX}:version"] = t.version
        doc.entity(plan, attrs)
    return plan


def _activity(doc: Any, run: RunView) -> str:
    attrs: dict[str, Any] = {f"{PREFIX}:status": run.status}
    if run.name:
        attrs["prov:label"] = run.name
    source = run.aux.get("prov_source_reference")  # an imported run: the reference it was exported with
    reference_type, reference = source if isinstance(source, list) else (run.reference_type, run.reference)
    if reference and reference_type != REFERENCE_TYPE:
        attrs[f"{PREFIX}:reference"] = reference
        attrs[f"{PREFIX}:reference_type"] = reference_type or ""
    for key, value in sorted(run.params.items()):
        attrs[f"{PREFIX}:param_{key}"] = json.dumps(value, sort_keys=True)
    if run.error:
        attrs[f"{PREFIX}:error"] = run.error
    activity = activity_id(run)
    doc.activity(activity, run.started_at, run.finished_at, attrs)
    return activity


def _entity_id(artifact: ArtifactView) -> str:
    """By content (an artifact is its bytes), so that an imported copy has the same id."""
    return f"{PREFIX}:artifact/{artifact.hash or artifact.uid}"


def _entity(doc: Any, artifact: ArtifactView, declared: set[str]) -> str:
    entity_id = _entity_id(artifact)
    if entity_id in declared:
        return entity_id
    declared.add(entity_id)
    attrs: dict[str, Any] = {"prov:location": artifact.path}
    if artifact.key:
        attrs["prov:label"] = artifact.key
    if artifact.hash:
        attrs[f"{PREFIX}:hash"] = artifact.hash
        attrs[f"{PREFIX}:hash_type"] = artifact.hash_type or ""
    if artifact.size is not None:
        attrs[f"{PREFIX}:size"] = artifact.size
    if artifact.n_files is not None:
        attrs[f"{PREFIX}:n_files"] = artifact.n_files
    doc.entity(entity_id, attrs)
    return entity_id


def serialize(selection: Selection, fmt: str) -> str:
    """The document as PROV-JSON (`prov-json`), PROV-N (`prov-n`) or PROV-JSONLD (`prov-jsonld`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown PROV format {fmt!r}: use {', '.join(FORMATS)}")
    document = to_document(selection)
    text = document.serialize(format=FORMATS[fmt], **({"indent": 2} if fmt != "prov-n" else {}))
    return str(text) + ("" if str(text).endswith("\n") else "\n")
