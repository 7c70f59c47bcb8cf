"""Prefect: `@tracked` above `@flow` records every flow run, its task runs and its files.

    from prefect import flow, task
    from flowprov.integrations.prefect import tracked

    @tracked
    @flow
    def etl(input_path: Path, n: int = 3) -> Path: ...

`tracked` returns the same Flow, made with `flow.with_options(...)` and the adapter's state hooks
**appended** to the flow's own `on_running`, `on_completion`, `on_failure`, `on_crashed` and
`on_cancellation` hooks, so signature, parameter schema, `.fn`, `.serve`, `.deploy`, retries,
timeouts and async flows behave exactly as without it. Calling `.with_options(...)` on the
result keeps the hooks (they are appended again).

Recorded through the Recorder: the flow as a pipeline transform (key = `module:qualname` of the
flow function, name = the flow's name, version = an explicit `@flow(version=...)`, hash = the flow
function's own source), the flow run as a Run (`reference` = flow run id, `reference_type`
`prefect_flow_run_id`, name = flow run name, params = parameters with secrets redacted), its
task runs as child runs (`prefect_task_run_id`, step transform `<flow key>#<task name>`, cache
hits marked in aux, upstream task runs in aux), subflows under their parent flow's run, files:
parameters that are existing paths become inputs, returned paths become outputs, plus
`flowprov.track_input()` / `track_output()` inside flows and tasks.

States: Completed -> completed, Failed (also a timeout) -> errored, Crashed and Cancelled ->
aborted; a retry marks the run restarted until its final state. Prefect logs and swallows
exceptions raised in hooks, so the adapter prints its own failures to stderr itself. A run whose
end the adapter never saw (`return Cancelled()` fires no hook; a crashed worker) is reconciled
from Prefect's API by `flowprov prefect reconcile`, and automatically when the next tracked flow
run starts.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

REFERENCE_TYPE = "prefect_flow_run_id"
TASK_REFERENCE_TYPE = "prefect_task_run_id"
STATE_STATUS = {
    "COMPLETED": "completed",
    "FAILED": "errored",
    "CRASHED": "aborted",
    "CANCELLED": "aborted",
    "CANCELLING": "aborted",
    "RUNNING": "started",
    "PENDING": "scheduled",
    "SCHEDULED": "scheduled",
    "PAUSED": "started",
}
_ADAPTER_HOOK = "_flowprov_hook"
TASK_STATE_WAIT_S = 10.0

# flow run id -> (recorder, handle); task run id -> files added inside the task before it is recorded
_active: dict[str, tuple[Any, Any]] = {}
_task_files: dict[str, list[tuple[str, Any, str | None]]] = {}
_lock = threading.RLock()


def _report(stage: str, exc: BaseException) -> None:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-4:])
    print(
        f"flowprov: error: recording the Prefect {stage} failed: {type(exc).__name__}: {exc}\n{detail}",
        file=sys.stderr,
        end="",
    )


def _status_of(state: Any) -> str:
    return STATE_STATUS.get(str(getattr(state.type, "value", state.type)).upper(), "started")


def flow_transform(flow: Any):
    from flowprov.core.tracking.recorder import TransformSpec

    fn = flow.fn
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = None
    version = flow.version
    try:
        from prefect.utilities.hashing import file_hash

        if version == file_hash(inspect.getsourcefile(fn)):  # Prefect's default: the whole file's hash
            version = None
    except Exception:
        pass
    key = f"{fn.__module__}:{fn.__qualname__}"
    return TransformSpec(
        key=key, name=flow.name, type="pipeline", version=version, source_code=source, description=flow.description
    )


def _existing_paths(values: Any, names: list[str] | None = None) -> list[Path]:
    found: list[Path] = []

    def visit(v: Any) -> None:
        if isinstance(v, (str, os.PathLike)) and str(v) and len(str(v)) < 4096:
            try:
                p = Path(v)
                if p.exists() and (p.is_file() or p.is_dir()):
                    found.append(p)
            except (OSError, ValueError):
                return
        elif isinstance(v, dict):
            for item in v.values():
                visit(item)
        elif isinstance(v, (list, tuple, set)):
            for item in v:
                visit(item)

    if isinstance(values, dict) and names is not None:
        values = {k: v for k, v in values.items() if k in names}
    visit(values)
    return found


class _TaskTarget:
    """track_input/track_output inside a task run: kept until the task run is recorded."""

    def __init__(self, task_run_id: str):
        self.task_run_id = task_run_id

    def add_input(self, item: Any, key: str | None = None) -> Any:
        with _lock:
            _task_files.setdefault(self.task_run_id, []).append(("in", item, key))

    def add_output(self, item: Any, key: str | None = None) -> Any:
        with _lock:
            _task_files.setdefault(self.task_run_id, []).append(("out", item, key))


def _resolve_target() -> Any:
    """The recording target for code running in a Prefect task run or flow run, if tracked."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:
        return None
    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run is not None and str(task_ctx.task_run.flow_run_id) in _active:
        return _TaskTarget(str(task_ctx.task_run.id))
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        entry = _active.get(str(flow_ctx.flow_run.id))
        if entry is not None:
            return entry[1]
    return None


class FlowTracker:
    """The state hooks `tracked` appends to a flow."""

    def __init__(
        self, tasks: bool = True, inputs: list[str] | None = None, outputs: bool = True, db: str | None = None
    ):
        self.tasks = tasks
        self.inputs = inputs
        self.outputs = outputs
        self.db = db

    def _store(self):
        from flowprov.core.store.connection import connect, current_store

        return connect(self.db) if self.db else current_store()

    def on_running(self, flow: Any, flow_run: Any, state: Any) -> None:
        try:
            self._running(flow, flow_run)
        except Exception as exc:
            _report(f"flow run {getattr(flow_run, 'name', '?')} start", exc)

    def on_end(self, flow: Any, flow_run: Any, state: Any) -> None:
        try:
            self._end(flow, flow_run, state)
        except Exception as exc:
            _report(f"flow run {getattr(flow_run, 'name', '?')} end", exc)

    def _running(self, flow: Any, flow_run: Any) -> None:
        from flowprov.core.registry import Run
        from flowprov.core.registry.params import normalize_param, secret_key_pattern
        from flowprov.core.tracking.context import _default_run, _parent_run, environment_artifact
        from flowprov.core.tracking.recorder import Recorder

        store = self._store()
        run_id = str(flow_run.id)
        with _lock:
            entry = _active.get(run_id)
        if entry is not None:  # on_running fires once per retry attempt
            rec, handle = entry
            rec.open_run(
                handle.transform,
                reference=run_id,
                reference_type=REFERENCE_TYPE,
                name=flow_run.name,
                status="restarted",
            )
            handle.update_aux({"attempts": int(handle.aux.get("attempts", 1)) + 1})
            rec.flush()
            return
        reconcile_pending(store, exclude={run_id})
        rec = Recorder(store)
        parent_id = None
        if flow_run.parent_task_run_id is not None:
            parent_flow_run = _parent_flow_run_id(flow_run.parent_task_run_id)
            if parent_flow_run is not None:
                parent = Run.filter(reference=parent_flow_run, reference_type=REFERENCE_TYPE).first()
                parent_id = parent.id if parent is not None else None
        if parent_id is None:
            enclosing = _default_run() or _parent_run(None)
            parent_id = enclosing.id if enclosing is not None else None
        pattern = secret_key_pattern()
        params = {k: _redact_block(v) for k, v in dict(flow_run.parameters or {}).items()}
        params = {k: normalize_param(v, k, pattern) for k, v in params.items()}
        handle = rec.open_run(
            flow_transform(flow),
            reference=run_id,
            reference_type=REFERENCE_TYPE,
            name=flow_run.name,
            params=params,
            parent=parent_id,
            started_at=dt.datetime.now(dt.UTC),
            status="started",
            aux={
                "flow_name": flow.name,
                "deployment_id": str(flow_run.deployment_id) if flow_run.deployment_id else None,
            },
        )
        env, _locks = environment_artifact(None)
        handle.set_environment(env)
        for path in _existing_paths(flow_run.parameters or {}, self.inputs):
            handle.add_input(path)
        rec.flush()  # the run exists now: subflows can point at it, reconcile can find it
        with _lock:
            _active[run_id] = (rec, handle)

    def _end(self, flow: Any, flow_run: Any, state: Any) -> None:
        run_id = str(flow_run.id)
        with _lock:
            entry = _active.pop(run_id, None)
        if entry is None:
            self._running(flow, flow_run)
            with _lock:
                entry = _active.pop(run_id)
        rec, handle = entry
        if self.tasks:
            record_task_runs(rec, handle, run_id)
        if self.outputs and _status_of(state) == "completed":
            for path in _existing_paths(_result_of(state)):
                handle.add_output(path)
        if state.name and state.name.lower() == "timedout":
            handle.update_aux({"timed_out": True})
        message = getattr(state, "message", None)
        if message and _status_of(state) != "completed":
            handle.update_aux({"error": str(message)[:2000]})
        # the final state's own time is the flow run's end (the hook may run a little later)
        rec.close_run(handle, _status_of(state), finished_at=_state_time(state) or dt.datetime.now(dt.UTC))
        rec.flush()


def _redact_block(value: Any) -> Any:
    """Prefect Secret blocks are never stored."""
    if type(value).__name__ == "Secret" and type(value).__module__.startswith("prefect"):
        return "***"
    return value


def _result_of(state: Any) -> Any:
    try:
        result = state.result(raise_on_failure=False)
        if inspect.isawaitable(result):
            result.close()
            return None
        return result
    except Exception:
        return getattr(state, "data", None)


def _drain_events() -> None:
    try:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=5, at_exit=False)
    except Exception:  # best effort: the polling below still waits for the server
        pass


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _parent_flow_run_id(task_run_id: Any) -> str | None:
    with _client() as client:
        task_run = client.read_task_run(task_run_id)
    return str(task_run.flow_run_id) if task_run and task_run.flow_run_id else None


def record_task_runs(rec: Any, flow_handle: Any, flow_run_id: str) -> int:
    """Add a child run for every task run of a flow run (read from Prefect's API)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    from flowprov.core.tracking.recorder import TransformSpec

    # Prefect 3 reports task runs through its events worker, and the server writes them a moment
    # later: push what is queued, wait (cheaply) until none is pending, read them all once, and
    # make sure no further one appeared in the meantime.
    _drain_events()
    by_flow = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    pending_states = TaskRunFilter(
        state=TaskRunFilterState(
            type=TaskRunFilterStateType(
                any_=[StateType.PENDING, StateType.SCHEDULED, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
            )
        )
    )
    deadline = time.monotonic() + TASK_STATE_WAIT_S
    with _client() as client:
        while True:
            late = time.monotonic() > deadline
            if late or not client.read_task_runs(flow_run_filter=by_flow, task_run_filter=pending_states, limit=1):
                task_runs = client.read_task_runs(flow_run_filter=by_flow)
                # a task run can exist before its first state does: it is not settled either
                settled = all(tr.state is not None and tr.state.is_final() for tr in task_runs)
                time.sleep(0.1)
                if late or (
                    settled and not client.read_task_runs(flow_run_filter=by_flow, offset=len(task_runs), limit=1)
                ):
                    break
            time.sleep(0.1)
    specs: dict[str, TransformSpec] = {}
    for tr in sorted(
        task_runs,
        key=lambda t: (t.start_time or t.expected_start_time or dt.datetime.min.replace(tzinfo=dt.UTC), str(t.id)),
    ):
        task_name = tr.task_key.rsplit("-", 1)[0] if tr.task_key else tr.name.rsplit("-", 1)[0]
        spec = specs.get(task_name)
        if spec is None:
            spec = specs[task_name] = TransformSpec(
                key=f"{flow_handle.transform.key}#{task_name}",
                name=task_name,
                type="step",
                version=tr.task_version or flow_handle.transform.version,
            )
        state = tr.state
        aux: dict[str, Any] = {"run_count": tr.run_count}
        if state is not None and state.name == "Cached":
            aux["cached"] = True
        upstream = sorted(
            {
                str(i.id)
                for inputs in (tr.task_inputs or {}).values()
                for i in inputs
                if getattr(i, "input_type", "") == "task_run"
            }
        )
        if upstream:
            aux["upstream_task_runs"] = upstream
        status = _status_of(state) if state is not None else "started"
        handle = rec.open_run(
            spec,
            reference=str(tr.id),
            reference_type=TASK_REFERENCE_TYPE,
            name=tr.name,
            parent=flow_handle,
            started_at=tr.start_time,
            status=status,
            aux=aux,
        )
        if tr.start_time is None:
            handle.opened_at = None  # read after the fact: the moment of reading is no start
        with _lock:
            files = _task_files.pop(str(tr.id), [])
        for role, item, key in files:
            (handle.add_input if role == "in" else handle.add_output)(item, key)
        end = tr.end_time or (_state_time(state) if status != "started" else None)
        rec.close_run(handle, status, finished_at=end, unknown_end="Prefect's API gives no end time for this task run")
    return len(task_runs)


def _state_time(state: Any) -> dt.datetime | None:
    """When a Prefect state was entered (a final state's time is the run's end)."""
    value = getattr(state, "timestamp", None)
    return value if isinstance(value, dt.datetime) else None


def reconcile_pending(store: Any = None, exclude: set[str] | None = None) -> int:
    """Settle tracked flow runs whose end was never seen, from Prefect's API; returns how many."""
    from flowprov.core.registry import Run
    from flowprov.core.tracking.recorder import Recorder

    pending = (
        [
            r
            for r in Run.using(store).filter(
                reference_type=REFERENCE_TYPE, status__in=["started", "restarted", "scheduled"]
            )
            if r.reference not in (exclude or set())
        ]
        if store
        else []
    )
    if not pending:
        return 0
    settled = 0
    rec = Recorder(store)
    from flowprov.core.tracking.recorder import TransformSpec

    with _client() as client:
        for run in pending:
            try:
                flow_run = client.read_flow_run(run.reference)
            except Exception:  # not in this Prefect server (another workspace): leave it
                continue
            state = flow_run.state
            if state is None or not state.is_final():
                continue  # still running somewhere
            with _lock:
                _active.pop(run.reference, None)  # e.g. `return Cancelled()`: no end hook ever fired
            transform = run.transform
            spec = TransformSpec(
                key=transform.key,
                name=transform.name,
                type=transform.type,
                version=transform.version,
                source_code=transform.source_code,
            )
            handle = rec.open_run(
                spec,
                reference=run.reference,
                reference_type=REFERENCE_TYPE,
                name=run.name,
                status=_status_of(state),
                aux={"reconciled": True, "prefect_state": state.name},
            )
            record_task_runs(rec, handle, run.reference)
            rec.close_run(
                handle,
                _status_of(state),
                finished_at=flow_run.end_time or _state_time(state),
                unknown_end="Prefect's API gives no end time for this flow run",
            )
            settled += 1
    rec.flush()
    return settled


def _attach(flow: Any, tracker: FlowTracker) -> Any:
    """The flow with the tracker's hooks appended (once) and a with_options that keeps them."""

    def hooks(existing: list, hook) -> list:
        return [*(h for h in existing if not getattr(h, _ADAPTER_HOOK, False)), hook]

    running = functools.partial(FlowTracker.on_running, tracker)
    ending = functools.partial(FlowTracker.on_end, tracker)
    for h in (running, ending):
        setattr(h, _ADAPTER_HOOK, True)
        h.__name__ = "flowprov"  # Prefect logs hook names
    new = flow.with_options(
        on_running=hooks(flow.on_running_hooks, running),
        on_completion=hooks(flow.on_completion_hooks, ending),
        on_failure=hooks(flow.on_failure_hooks, ending),
        on_crashed=hooks(flow.on_crashed_hooks, ending),
        on_cancellation=hooks(flow.on_cancellation_hooks, ending),
    )
    original_with_options = new.with_options

    @functools.wraps(original_with_options)
    def with_options(*args: Any, **kwargs: Any) -> Any:
        return _attach(original_with_options(*args, **kwargs), tracker)

    new.with_options = with_options
    new._flowprov_tracker = tracker
    return new


def tracked(
    flow: Any = None,
    *,
    tasks: bool = True,
    inputs: list[str] | None = None,
    outputs: bool = True,
    db: str | None = None,
) -> Any:
    """Record every run of a Prefect flow. Put it **above** `@flow`.

    Options: `tasks` records task runs as child runs; `inputs` limits which parameters are checked
    for existing paths (default: all); `outputs` records returned paths; `db` names a store.
    """
    if flow is None:
        return lambda f: tracked(f, tasks=tasks, inputs=inputs, outputs=outputs, db=db)
    from prefect import Flow

    if not isinstance(flow, Flow):
        raise TypeError(
            f"@tracked must be placed above @flow (it got {getattr(flow, '__name__', flow)!r}, not a Prefect Flow): "
            "write @tracked on the line above @flow"
        )
    return _attach(flow, FlowTracker(tasks=tasks, inputs=inputs, outputs=outputs, db=db))


def _install_resolver() -> None:
    from flowprov.core.tracking import targets

    if _resolve_target not in targets.target_resolvers:
        targets.target_resolvers.append(_resolve_target)


_install_resolver()
