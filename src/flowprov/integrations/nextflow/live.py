"""Record Nextflow launches from weblog messages, through the Recorder, in batches.

A launch is the run (`nextflow_session_id`, runId, runName) - the identity the trace ingest gives
it - and each task is the child run (`nextflow_task_hash`, full hash from the work dir, task
name), with status, times and aux made by the trace ingest's own functions from the same trace
fields. So a launch recorded live and then ingested from its trace files is one set of records:
the ingest only merges into them.

`LiveRecorder.apply(batch)` writes one batch of messages in one flush, then forgets the written
task handles, so memory stays flat however many tasks a launch has. A receiver that starts in
the middle of a launch (restarted, or started late) finds the launch already stored and goes on
with it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowprov.core.tracking.adapter_kit import ReferenceType
from flowprov.core.tracking.recorder import RunRows
from flowprov.integrations.nextflow.history import pipeline_from_command
from flowprov.integrations.nextflow.software_versions import ProcessEnvironments, find_versions_file, read_versions
from flowprov.integrations.nextflow.tasks import (
    TASK_STATUS,
    full_hash,
    task_aux_of,
    task_end_note,
    task_finished_at,
)
from flowprov.integrations.nextflow.trace import TaskRecord
from flowprov.integrations.nextflow.weblog import WeblogMessage, parse_iso_time

LAUNCH_TYPE = ReferenceType.NEXTFLOW_SESSION
TASK_TYPE = ReferenceType.NEXTFLOW_TASK
WORKFLOW_AUX = ("profile", "workDir", "launchDir", "projectDir", "containerEngine", "configFiles", "scriptId")
FINAL_EVENTS = ("process_completed", "error")
DONE_MEMORY = 200_000  # finished tasks remembered to ignore late submitted/started messages


@dataclass
class LaunchState:
    """What the receiver keeps about one launch between batches."""

    handle: Any
    pipeline: str
    revision: str | None
    step_specs: dict[str, int] = field(default_factory=dict)  # process -> index in specs
    specs: list[Any] = field(default_factory=list)  # the step transforms, in the order first seen
    rows: list[Any] = field(default_factory=list)  # this batch's task runs, as the Recorder's bulk rows
    failed_retry: dict[str, str] = field(default_factory=dict)  # task name -> hash of its failed attempt
    attempts: dict[str, int] = field(default_factory=dict)  # task name -> attempts seen, for names that failed
    done: set[int] = field(default_factory=set)  # hashes of (reference, name) of finished tasks: small ints
    cached_uids: list[str] = field(default_factory=list)
    environment_dir: Path | None = None
    resumed: bool = False  # stored before this receiver saw it (restarted, or started late)


def _task_key(record: TaskRecord) -> int:
    return hash((task_reference(record), record.name))


def task_reference(record: TaskRecord) -> str:
    """The task's reference as the trace ingest gives it without a work dir beside it."""
    return full_hash(record) or record.hash or f"task:{record.task_id}"


def redacted_command(command: str) -> str:
    from flowprov.core.tracking.adapter_kit import redact_argv

    try:
        return " ".join(shlex.quote(w) for w in redact_argv(shlex.split(command)))
    except ValueError:
        return " ".join(redact_argv(command.split()))


class LiveRecorder:
    """Applies batches of weblog messages to a store (see module doc)."""

    def __init__(self, store: Any):
        from flowprov.core.tracking.recorder import Recorder

        self.store = store
        self.rec = Recorder(store, flush_every=10**12)
        self.launches: dict[tuple[str, str | None], LaunchState] = {}
        self.messages = 0

    # -- one batch ---------------------------------------------------------------------------------
    def apply(self, batch: list[WeblogMessage]) -> None:
        """Record a batch of messages: one flush, then written task handles are forgotten."""
        existing = self._earlier_cached_runs(batch)
        finished_here = {_task_key(m.task) for m in batch if m.task is not None and m.event in FINAL_EVENTS}
        closing: list[LaunchState] = []
        for message in batch:
            state = self._launch(message)
            if message.event == "started":
                self._started(state, message)
            elif message.task is not None:
                if message.event not in FINAL_EVENTS and _task_key(message.task) in finished_here:
                    continue  # its completed message in this batch says all it says, and more
                self._task(state, message, existing)
            if message.event == "error":
                state.handle.status = "errored"
                state.handle.dirty = True
            if message.event == "completed":
                self._completed(state, message)
                closing.append(state)
        for state in self.launches.values():
            if state.rows:
                self.rec.add_rows(RunRows(state.handle, TASK_TYPE, state.specs, state.rows))
                state.rows = []
        self.rec.flush()
        for state in closing:
            self._attach_environments(state)
            self.launches = {k: s for k, s in self.launches.items() if s is not state}
        self.rec.forget(keep=[s.handle for s in self.launches.values()])
        self.messages += len(batch)

    def _earlier_cached_runs(self, batch: list[WeblogMessage]) -> dict[str, str]:
        """reference -> uid of task runs of other launches that CACHED tasks of this batch reuse."""
        wanted: dict[tuple[str, str | None], list[str]] = {}
        for m in batch:
            if m.task is not None and m.task.status == "CACHED":
                wanted.setdefault((m.run_id, m.run_name), []).append(task_reference(m.task))
        found: dict[str, str] = {}
        for launch, refs in wanted.items():
            found.update(self.rec.find_runs(TASK_TYPE, refs, not_under=launch))
        return found

    # -- the launch --------------------------------------------------------------------------------
    def _launch(self, message: WeblogMessage) -> LaunchState:
        key = (message.run_id, message.run_name)
        state = self.launches.get(key)
        if state is not None:
            return state
        stored = self._stored_launch(message.run_id, message.run_name)
        workflow = message.workflow
        pipeline, revision = _pipeline_of(workflow)
        if stored is not None and not pipeline:
            pipeline, revision = stored["pipeline"], stored["revision"]
        from flowprov.core.tracking.recorder import TransformSpec

        pipeline = pipeline or f"nextflow/{message.run_name or 'unknown'}"
        spec = TransformSpec(key=pipeline, name=pipeline, type="pipeline", version=revision)
        handle = self.rec.open_run(
            spec,
            reference=message.run_id,
            reference_type=LAUNCH_TYPE,
            name=message.run_name,
            status="started" if stored is None else None,
            started_at=message.utc_time if stored is None else None,
        )
        state = LaunchState(handle, pipeline, revision)
        if stored is not None:
            state.cached_uids = list(stored["aux"].get("cached_task_runs") or [])
            state.resumed = True
        else:
            handle.update_aux({"identity_source": {"session_id": "weblog", "run_name": "weblog", "pipeline": "weblog"}})
        self.launches[key] = state
        return state

    def _stored_launch(self, session: str, name: str | None) -> dict[str, Any] | None:
        run = self.rec.find_run(LAUNCH_TYPE, session, name)
        if run is None:
            return None
        transform = run.transform
        return {"pipeline": transform.key, "revision": transform.version_tag, "aux": run.aux or {}}

    def _started(self, state: LaunchState, message: WeblogMessage) -> None:
        workflow = message.workflow
        handle = state.handle
        if message.parameters:
            handle.add_params(message.parameters)
        aux: dict[str, Any] = {k: workflow[k] for k in WORKFLOW_AUX if workflow.get(k) not in (None, "", [], {})}
        if workflow.get("commandLine"):
            aux["command"] = redacted_command(workflow["commandLine"])
        if state.revision:
            aux["revision"] = state.revision
        nextflow = workflow.get("nextflow")
        if isinstance(nextflow, dict) and nextflow.get("version"):
            aux["nextflow_version"] = nextflow["version"]
        if workflow.get("manifest"):
            aux["manifest"] = workflow["manifest"]
        if message.extra:
            aux["weblog_fields"] = message.extra
        handle.update_aux(aux)
        start = workflow.get("start")
        handle.started_at = parse_iso_time(start, "start") if start else message.utc_time or handle.started_at
        handle.status = "started"
        state.environment_dir = _versions_dir(workflow, message.parameters)

    def _completed(self, state: LaunchState, message: WeblogMessage) -> None:
        workflow = message.workflow
        handle = state.handle
        if message.parameters:
            handle.add_params(message.parameters)
        aux: dict[str, Any] = {}
        for name in ("stats", "exitStatus", "errorMessage", "duration", "manifest"):
            if workflow.get(name) not in (None, "", {}):
                aux[name if name in ("stats", "manifest") else f"weblog_{name}"] = workflow[name]
        if state.cached_uids:
            aux["cached_task_runs"] = state.cached_uids
        handle.update_aux(aux)
        success = workflow.get("success")
        status = "errored" if success is False or handle.status == "errored" else "completed"
        if not workflow:  # old Nextflow sent `completed` without metadata: nothing says it failed
            status = "errored" if handle.status == "errored" else "completed"
        complete = workflow.get("complete")
        finished = parse_iso_time(complete, "complete") if complete else message.utc_time
        self.rec.close_run(handle, status, finished_at=finished)
        state.environment_dir = state.environment_dir or _versions_dir(workflow, message.parameters)

    # -- tasks -------------------------------------------------------------------------------------
    def _task(self, state: LaunchState, message: WeblogMessage, existing: dict[str, str]) -> None:
        record = message.task
        assert record is not None
        final = message.event in FINAL_EVENTS
        reference = task_reference(record)
        key = _task_key(record)
        if not final and key in state.done:
            return  # a late submitted/started message of a task already finished
        if record.name in state.attempts and "attempt" not in record.metrics:
            record.metrics["attempt"] = state.attempts[record.name] + 1  # as the trace ingest infers it
        if record.status == "CACHED" and reference in existing:
            if existing[reference] not in state.cached_uids:
                state.cached_uids.append(existing[reference])
            return
        aux = task_aux_of(record)
        if message.trace_extra:
            aux["weblog_fields"] = message.trace_extra
        if final:
            self._note_retry(state, record, aux)
            state.done.add(key)
            if len(state.done) > DONE_MEMORY:
                state.done.clear()
        finished = task_finished_at(record)
        aux.update(task_end_note(record, finished))
        row = self.rec.run_row(
            self._step_index(state, record.process_name or "unknown"),
            reference,
            record.name,
            TASK_STATUS.get(record.status or "", "started"),
            record.start or record.submit,
            finished,
            aux,
        )
        state.rows.append(row)

    def _note_retry(self, state: LaunchState, record: TaskRecord, aux: dict[str, Any]) -> None:
        """retry_of, as the trace ingest links a retried task to the attempt that failed."""
        name = record.name
        if not name:
            return
        previous = state.failed_retry.pop(name, None) if record.attempt > 1 else None
        if previous is None and record.attempt > 1 and state.resumed:
            previous = self._stored_failure(state, name, record.attempt - 1)
        if previous:
            aux["retry_of"] = previous
        if record.status == "FAILED":
            state.attempts[name] = record.attempt
            if "error_action" not in record.metrics or record.metrics.get("error_action") == "RETRY":
                state.failed_retry[name] = full_hash(record) or record.hash or ""

    def _stored_failure(self, state: LaunchState, name: str, attempt: int) -> str | None:
        """The failed attempt a retry retries, when an earlier receiver recorded it."""
        launch = state.handle  # not flushed yet in this receiver: found by its identity, not its id
        failed = self.rec.find_child_runs(TASK_TYPE, (launch.reference, launch.name), name=name, status="errored")
        for run in failed:
            if ((run.aux or {}).get("attempt") or 1) == attempt:
                return str(run.reference)
        return None

    def _step_index(self, state: LaunchState, process: str) -> int:
        index = state.step_specs.get(process)
        if index is None:
            from flowprov.core.tracking.recorder import TransformSpec

            index = state.step_specs[process] = len(state.specs)
            state.specs.append(
                TransformSpec(key=f"{state.pipeline}#{process}", name=process, type="step", version=state.revision)
            )
        return index

    def _step_spec(self, state: LaunchState, process: str) -> Any:
        return state.specs[self._step_index(state, process)]

    # -- environments ------------------------------------------------------------------------------
    def _attach_environments(self, state: LaunchState) -> None:
        """At the end of a launch: nf-core's software versions become each task run's environment."""
        path = find_versions_file(state.environment_dir) if state.environment_dir else None
        if path is None:
            return
        environments = ProcessEnvironments(read_versions(path), path)
        for chunk in self.rec.child_run_facts(state.handle.run_id, TASK_TYPE):
            for reference, name, transform_name, aux in chunk:
                process = transform_name or "unknown"
                environment = environments.for_task(process, aux.get("container"))
                if environment is None:
                    continue
                handle = self.rec.open_run(
                    self._step_spec(state, process),
                    reference=reference,
                    reference_type=TASK_TYPE,
                    name=name,
                    parent=state.handle,
                    status=None,
                )
                handle.set_environment(environment)
            self.rec.flush()
            self.rec.forget(keep=[state.handle])
        launch_file = environments.launch_file()
        if launch_file is not None:
            state.handle.set_environment(launch_file)
            self.rec.flush()


def _pipeline_of(workflow: dict[str, Any]) -> tuple[str | None, str | None]:
    """Pipeline key and revision as the trace ingest takes them from the history's command line."""
    command = workflow.get("commandLine")
    pipeline = (pipeline_from_command(command) if command else None) or workflow.get("projectName")
    manifest = workflow.get("manifest")
    if not pipeline and isinstance(manifest, dict):
        pipeline = manifest.get("name")
    pipeline = pipeline or workflow.get("scriptName")
    return pipeline, workflow.get("commitId") or workflow.get("scriptId")


def _versions_dir(workflow: dict[str, Any], params: dict[str, Any]) -> Path | None:
    """Where nf-core writes pipeline_info/: --outdir, relative to the launch directory."""
    outdir = params.get("outdir")
    launch_dir = workflow.get("launchDir")
    if not isinstance(outdir, str) or "://" in outdir:
        return Path(launch_dir) if isinstance(launch_dir, str) else None
    path = Path(outdir)
    if not path.is_absolute() and isinstance(launch_dir, str):
        path = Path(launch_dir) / path
    return path
