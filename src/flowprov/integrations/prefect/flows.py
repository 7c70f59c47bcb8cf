"""Flow runs: the state hooks `tracked` appends to a flow.

`on_running` opens the flow run in a Recorder and writes it at once (subflows and reconcile can
find it); `on_end` adds the end facts and the task runs seen meanwhile and writes them. A store
that cannot be written never changes the flow: the recording goes on in memory, and the end
writes it to a spool file for `flowprov spool replay`, in one line on stderr. An end hook firing
in a process that did not open the run (a deployment's runner after a crash or cancel) writes the
end facts onto the stored run, with Prefect's own times and the run's own transform.
"""

from __future__ import annotations

import datetime as dt
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.gitinfo import find_git_root
from flowprov.core.tracking.adapter_kit import (
    enclosing_run,
    environment_paths,
    relative_key,
    report_failure,
    store_failures,
)
from flowprov.integrations.prefect.common import (
    NO_AUTO_FLUSH,
    REFERENCE_TYPE,
    FlowRecording,
    Unconnected,
    active,
    client,
    existing_paths,
    lock,
    result_of,
    state_time,
    status_of,
)
from flowprov.integrations.prefect.reconcile import reconcile_pending, record_task_runs, reopen_stored
from flowprov.integrations.prefect.tasks import merge_spool, spool_dir

if TYPE_CHECKING:
    from flowprov.core.tracking.recorder import Recorder, RunHandle, TransformSpec


def _module_name(fn: Any) -> str:
    """The flow function's module; for a script (`__main__`) or Prefect's loader module
    (`__prefect_loader_<hash>__`, used by serve and workers) its file's dotted path, so a flow
    has one transform key whichever way it ran."""
    module = str(fn.__module__)
    if module != "__main__" and not module.startswith("__prefect_loader"):
        return module
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        source = None
    if not source:
        return module
    return Path(relative_key(Path(source).resolve(), None)).with_suffix("").as_posix().replace("/", ".")


def _explicit_version(flow: Any) -> str | None:
    """`@flow(version=...)`; Prefect's default version (the whole file's hash) counts as none."""
    version = flow.version
    try:
        from prefect.utilities.hashing import file_hash

        source_file = inspect.getsourcefile(flow.fn)
        if source_file and version == file_hash(source_file):
            return None
    except Exception:
        pass
    return version


def _project_root(flow: Any) -> Path:
    """Where the flow's lock files are: the git root of its source file, else the working dir."""
    try:
        source = inspect.getsourcefile(flow.fn)
    except TypeError:
        source = None
    # the root only: read from the file system, without the `git status` subprocess git facts cost
    root = find_git_root(Path(source).resolve()) if source else None
    return root or Path.cwd()


Identity = tuple[str, "str | None", "str | None", "str | None"]  # key, flow.version, explicit version, source


def flow_transform(flow: Any, identity: Identity | None = None) -> TransformSpec:
    """The flow's pipeline transform, from `identity` as `flow_identity` read it when `@tracked`
    was applied (else read now). Prefect's default version (the file's hash) is no version."""
    from flowprov.core.tracking.recorder import TransformSpec

    key, seen_version, version, source = identity or flow_identity(flow)
    if flow.version != seen_version:  # with_options(version=...) since
        version = _explicit_version(flow)
    return TransformSpec(
        key=key, name=flow.name, type="pipeline", version=version, source_code=source, description=flow.description
    )


def flow_identity(flow: Any) -> Identity:
    """Key, version, explicit version and source of a flow, read where its file is at hand. `@tracked`
    reads them when it is applied: `serve()` runs a flow defined in a script from a pickled copy
    in another working directory, where the script's file (and so its dotted path and Prefect's
    file-hash version) can no longer be found."""
    fn = flow.fn
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = None
    return f"{_module_name(fn)}:{fn.__qualname__}", flow.version, _explicit_version(flow), source


def _redact_block(value: Any) -> Any:
    """Prefect Secret blocks are never stored."""
    if type(value).__name__ == "Secret" and type(value).__module__.startswith("prefect"):
        return "***"
    return value


def _parent_flow_run_id(task_run_id: Any) -> str | None:
    with client() as api:
        task_run = api.read_task_run(task_run_id)
    return str(task_run.flow_run_id) if task_run and task_run.flow_run_id else None


def _parent(rec: Recorder, flow_run: Any) -> Any:
    """The run this flow run belongs to: its parent flow run (a subflow, or a run_deployment
    child), else a tracked script in this process or FLOWPROV_INITIATED_BY_RUN."""
    if flow_run.parent_task_run_id is not None:
        parent_flow_run = _parent_flow_run_id(flow_run.parent_task_run_id)
        if parent_flow_run is not None:
            parent = rec.find_run(REFERENCE_TYPE, parent_flow_run)
            if parent is not None:
                return parent
    return enclosing_run()


def _write(recording: FlowRecording) -> None:
    """Write the flow run's buffer; a store that failed before gets one more try (no retries)."""
    if recording.failure is not None:
        if isinstance(recording.rec.store, Unconnected):
            raise recording.failure
        recording.rec.retries = 0
    recording.rec.flush()


def _what(flow_run: Any) -> str:
    return f"the Prefect flow run {getattr(flow_run, 'name', '?')}"


class FlowTracker:
    """The state hooks `tracked` appends to a flow."""

    def __init__(
        self, tasks: bool = True, inputs: list[str] | None = None, outputs: bool = True, db: str | None = None
    ):
        self.tasks = tasks
        self.inputs = inputs
        self.outputs = outputs
        self.db = db
        self.identity: Identity | None = None  # set by `tracked`

    def on_running(self, flow: Any, flow_run: Any, state: Any) -> None:
        try:
            with lock:
                recording = active.get(str(flow_run.id))
            if recording is not None:  # on_running fires once per retry attempt
                self._retry(recording, flow_run)
            else:
                self._start(flow, flow_run)
        except Exception as exc:  # a bug, not the store: one line, the flow goes on
            report_failure(f"the start of {_what(flow_run)}", exc, None)

    def on_end(self, flow: Any, flow_run: Any, state: Any) -> None:
        recording = None
        try:
            with lock:
                recording = active.pop(str(flow_run.id), None)
            if recording is None:
                recording = self._unseen_start(flow, flow_run)
            self._end_facts(recording, flow_run, state)
            _write(recording)
        except Exception as exc:
            report_failure(_what(flow_run), exc, recording.rec if recording is not None else None)

    # -- the start -----------------------------------------------------------------------
    def _recorder(self) -> tuple[Recorder, BaseException | None]:
        """A Recorder on the tracker's store; on one that cannot be opened, a Recorder that
        buffers only (the end spools it)."""
        import flowprov
        from flowprov.core.tracking.recorder import Recorder

        try:
            store: Any = flowprov.connect(self.db) if self.db else flowprov.current_store()
            failure = None
        except store_failures() as exc:
            store, failure = Unconnected(), exc
        return Recorder(store, flush_every=NO_AUTO_FLUSH), failure

    def _start(self, flow: Any, flow_run: Any, started_at: dt.datetime | None = None) -> FlowRecording:
        rec, failure = self._recorder()
        parent = None
        if failure is None:
            try:
                reconcile_pending(rec.store, exclude={str(flow_run.id)})
                parent = _parent(rec, flow_run)
            except store_failures() as exc:
                failure = exc
        handle = self._open(rec, flow, flow_run, parent, started_at or dt.datetime.now(dt.UTC))
        recording = FlowRecording(rec, handle, self.tasks, failure)
        if failure is None:
            try:
                rec.flush()  # the run exists now: subflows can point at it, reconcile can find it
            except store_failures() as exc:
                recording.failure = exc  # keep recording in memory; the end spools it
        if self.tasks:
            spool_dir(str(flow_run.id)).mkdir(parents=True, exist_ok=True)
        with lock:
            active[str(flow_run.id)] = recording
        return recording

    def _open(self, rec: Recorder, flow: Any, flow_run: Any, parent: Any, started_at: dt.datetime) -> RunHandle:
        params = {k: _redact_block(v) for k, v in dict(flow_run.parameters or {}).items()}
        deployment = str(flow_run.deployment_id) if flow_run.deployment_id else None
        handle = rec.open_run(
            flow_transform(flow, self.identity),
            reference=str(flow_run.id),
            reference_type=REFERENCE_TYPE,
            name=flow_run.name,
            params=params,
            parent=parent,
            started_at=started_at,
            status="started",
            aux={"flow_name": flow.name, "deployment_id": deployment},
        )
        # the listing beside the store the run is written to (FLOWPROV_DB, db=, connect)
        environment, lock_files = environment_paths(_project_root(flow), getattr(rec.store, "url", None))
        handle.set_environment(environment)
        for path in lock_files:
            handle.add_environment_file(path)
        for path in existing_paths(flow_run.parameters or {}, self.inputs):
            handle.add_input(path)
        return handle

    def _retry(self, recording: FlowRecording, flow_run: Any) -> None:
        handle = recording.handle
        recording.rec.open_run(
            handle.transform,
            reference=str(flow_run.id),
            reference_type=REFERENCE_TYPE,
            name=flow_run.name,
            status="restarted",
        )
        handle.update_aux({"attempts": int(handle.aux.get("attempts", 1)) + 1})
        if recording.failure is None:
            try:
                recording.rec.flush()
            except store_failures() as exc:
                recording.failure = exc

    # -- the end ---------------------------------------------------------------------------
    def _unseen_start(self, flow: Any, flow_run: Any) -> FlowRecording:
        """The end of a flow run this process did not open: the stored run if there is one
        (never reopened), else a new one from Prefect's own start time; task runs from the API."""
        rec, failure = self._recorder()
        stored = rec.find_run(REFERENCE_TYPE, str(flow_run.id)) if failure is None else None
        if stored is not None:
            recording = FlowRecording(rec, reopen_stored(rec, stored), self.tasks)
        else:
            recording = self._start(flow, flow_run, started_at=flow_run.start_time)
            with lock:
                active.pop(str(flow_run.id), None)
        if self.tasks and recording.failure is None:
            record_task_runs(recording.rec, recording.handle, str(flow_run.id))
        return recording

    def _end_facts(self, recording: FlowRecording, flow_run: Any, state: Any) -> None:
        rec, handle = recording.rec, recording.handle
        if self.tasks:
            merge_spool(rec, handle, str(flow_run.id))
        if self.outputs and status_of(state) == "completed":
            for path in existing_paths(result_of(state)):
                handle.add_output(path)
        if state.name and state.name.lower() == "timedout":
            handle.update_aux({"timed_out": True})
        message = getattr(state, "message", None)
        if message and status_of(state) != "completed":
            handle.update_aux({"error": str(message)[:2000]})
        # the final state's own time is the flow run's end (the hook may run a little later)
        rec.close_run(handle, status_of(state), finished_at=state_time(state) or dt.datetime.now(dt.UTC))
