"""OpenLineage (spec 2-0-2) run events from a selection, through openlineage-python.

A transform is a Job (namespace: the store's name, else "flowprov"; a step is `<pipeline>.<step>`),
a run is a Run whose id is `generate_static_uuid(started_at, run uid)` (an imported run keeps the
id it came with), so exporting again updates a lineage server rather than duplicating. Each run
gives a START event and, when it ended, one COMPLETE / FAIL / ABORT event; every event carries
the full inputs and outputs (Marquez keeps the links of the last event only).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from flowprov.interop.selection import ArtifactView, RunView, Selection, engine_of

PRODUCER = "https://pypi.org/project/flowprov/"
TERMINAL = {"completed": "COMPLETE", "errored": "FAIL", "aborted": "ABORT"}
REFERENCE_TYPE = "openlineage_run_id"


def run_id(run: RunView) -> str:
    from openlineage.client.uuid import generate_static_uuid

    if run.reference_type == REFERENCE_TYPE and run.reference:
        return run.reference
    return str(generate_static_uuid(run.started_at, run.uid.encode()))


def job_name(run: RunView, selection: Selection) -> str:
    """`<pipeline>.<step>` for a step whose key is `<pipeline key>#<step>`, else the transform key."""
    return run.transform.key.replace("#", ".", 1)


def dataset_name(artifact: ArtifactView) -> tuple[str, str]:
    """(namespace, name): `file` + the local path, or the URI's scheme and bucket + the key."""
    parsed = urlparse(artifact.path)
    if parsed.scheme in ("", "file"):
        from urllib.parse import unquote

        return "file", unquote(parsed.path) or artifact.uid
    if parsed.path in ("", "/"):  # bigquery://project.dataset.table
        return parsed.scheme, parsed.netloc
    return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/")


def to_events(selection: Selection, namespace: str = "flowprov") -> list[Any]:
    """The RunEvents (openlineage-python objects) of every run in the selection, in order."""
    events: list[Any] = []
    for run in selection.runs:
        events += run_events(run, selection, namespace)
    return events


def run_events(run: RunView, selection: Selection, namespace: str) -> list[Any]:
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    job = Job(namespace=namespace, name=job_name(run, selection), facets=_job_facets(run, selection))
    inputs = [_dataset(selection.artifacts[u], "input") for u in run.inputs if u in selection.artifacts]
    outputs = [_dataset(selection.artifacts[u], "output") for u in run.outputs if u in selection.artifacts]
    events = [
        RunEvent(
            eventType=RunState.START,
            eventTime=run.started_at.isoformat(),
            run=Run(runId=run_id(run), facets=_run_facets(run, selection, namespace, terminal=False)),
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )
    ]
    if run.status in TERMINAL:
        events.append(
            RunEvent(
                eventType=RunState[TERMINAL[run.status]],
                eventTime=(run.finished_at or run.started_at).isoformat(),
                run=Run(runId=run_id(run), facets=_run_facets(run, selection, namespace, terminal=True)),
                job=job,
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
        )
    return events


def _job_facets(run: RunView, selection: Selection) -> dict[str, Any]:
    from openlineage.client.facet_v2 import job_type_job, source_code_job, source_code_location_job

    engine, _ = engine_of(run, selection)
    facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration=engine.upper(),
            jobType="TASK" if run.transform.type == "step" else "JOB",
            producer=PRODUCER,
        )
    }
    if run.transform.source_code:
        language = "snakemake" if engine == "Snakemake" else ("nextflow" if engine == "Nextflow" else "python")
        facets["sourceCode"] = source_code_job.SourceCodeJobFacet(
            language=language, sourceCode=run.transform.source_code, producer=PRODUCER
        )
    git = run.aux.get("git")
    if isinstance(git, dict) and git.get("remote"):
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git",
            url=str(git["remote"]),
            repoUrl=str(git["remote"]),
            path=run.transform.key.split("#", 1)[0],
            version=str(git["commit"]) if git.get("commit") else None,
            producer=PRODUCER,
        )
    return facets


def _run_facets(run: RunView, selection: Selection, namespace: str, terminal: bool) -> dict[str, Any]:
    from openlineage.client.facet_v2 import error_message_run, execution_parameters_run, processing_engine_run

    facets: dict[str, Any] = {}
    parent = selection.run(run.parent_uid) if run.parent_uid else None
    if parent is not None:
        facets["parent"] = _parent_facet(parent, selection, namespace)
    engine, version = engine_of(run, selection)
    if version:
        facets["processing_engine"] = processing_engine_run.ProcessingEngineRunFacet(
            version=version, name=engine, producer=PRODUCER
        )
    if run.params:
        facets["executionParameters"] = execution_parameters_run.ExecutionParametersRunFacet(
            parameters=[
                execution_parameters_run.ExecutionParameter(key=key, value=json.dumps(value, sort_keys=True))
                for key, value in sorted(run.params.items())
            ],
            producer=PRODUCER,
        )
    if terminal and run.status == "errored" and run.error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=run.error,
            programmingLanguage="python" if engine in ("flowprov", "Prefect", "Snakemake") else "shell",
            stackTrace=str(run.aux["traceback"]) if run.aux.get("traceback") else None,
            producer=PRODUCER,
        )
    return facets


def _parent_facet(parent: RunView, selection: Selection, namespace: str) -> Any:
    from openlineage.client.facet_v2 import parent_run

    root = parent
    while root.parent_uid is not None and (up := selection.run(root.parent_uid)) is not None:
        root = up
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=run_id(parent)),
        job=parent_run.Job(namespace=namespace, name=job_name(parent, selection)),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=run_id(root)),
            job=parent_run.RootJob(namespace=namespace, name=job_name(root, selection)),
        ),
        producer=PRODUCER,
    )


def _dataset(artifact: ArtifactView, role: str) -> Any:
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import (
        dataset_version_dataset,
        input_statistics_input_dataset,
        output_statistics_output_dataset,
    )

    namespace, name = dataset_name(artifact)
    facets: dict[str, Any] = {}
    if artifact.hash:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=artifact.hash, producer=PRODUCER
        )
    if role == "input":
        stats = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            size=artifact.size, fileCount=artifact.n_files, producer=PRODUCER
        )
        return InputDataset(namespace, name, facets=facets, inputFacets={"inputStatistics": stats})
    stats_out = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        size=artifact.size, fileCount=artifact.n_files, producer=PRODUCER
    )
    return OutputDataset(namespace, name, facets=facets, outputFacets={"outputStatistics": stats_out})


def to_dicts(events: list[Any]) -> list[dict[str, Any]]:
    from openlineage.client.serde import Serde

    return [Serde.to_dict(e) for e in events]


def to_json_lines(events: list[Any]) -> str:
    return "".join(json.dumps(d, sort_keys=True) + "\n" for d in to_dicts(events))


def emit(events: list[Any]) -> int:
    """Send through the client's own configuration (openlineage.yml, OPENLINEAGE__* / OPENLINEAGE_URL)."""
    from openlineage.client import OpenLineageClient

    client = OpenLineageClient()
    for event in events:
        client.emit(event)
    return len(events)
