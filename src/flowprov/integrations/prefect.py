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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store
    from flowprov.core.tracking.recorder import TransformSpec

import datetime as dt
import functools
import inspect
import json
import os
import shutil
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

from flowprov.core.tracking.adapter_kit import ReferenceType

REFERENCE_TYPE = ReferenceType.PREFECT_FLOW_RUN
TASK_REFERENCE_TYPE = ReferenceType.PREFECT_TASK_RUN
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
TASK_PAGE = 200  # Prefect server's largest page of task runs

# flow run id -> (recorder, handle); task run id -> files added inside the task before it is recorded
_active: dict[str, tuple[Any, Any]] = {}
_task_files: dict[str, list[tuple[str, Any, str | None]]] = {}
_task_start_inputs: dict[str, list[str]] = {}  # task run id -> parameter paths that existed at its start
_untasked: set[str] = set()  # flow runs tracked with tasks=False
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


def flow_transform(flow: Any) -> TransformSpec:
    from flowprov.core.tracking.recorder import TransformSpec

    fn = flow.fn
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = None
    version = flow.version
    try:
        from prefect.utilities.hashing import file_hash

        source_file = inspect.getsourcefile(fn)
        if source_file and version == file_hash(source_file):  # Prefect's default: the whole file's hash
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


class _DroppingTarget:
    """track_* in a task whose flow run is recorded in no process this one can reach: warn once."""

    warned = False

    def _drop(self, item: Any, key: str | None = None) -> None:
        if not _DroppingTarget.warned:
            _DroppingTarget.warned = True
            print(
                f"flowprov: warning: {item} not recorded: this Prefect task runs where its flow run's "
                "record cannot be reached (a remote task runner); the flow itself is unaffected",
                file=sys.stderr,
            )

    add_input = add_output = _drop


def spool_dir(flow_run_id: str) -> Path:
    """Where task runs in other processes on this machine (ProcessPoolTaskRunner) leave their facts."""
    return Path(tempfile.gettempdir()) / "flowprov-prefect" / flow_run_id


def _resolve_target() -> Any:
    """The recording target for code running in a Prefect task run or flow run, if tracked."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:
        return None
    from flowprov.core.tracking.targets import current_target

    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run is not None:
        flow_run_id = str(task_ctx.task_run.flow_run_id)
        if flow_run_id in _active or spool_dir(flow_run_id).is_dir():
            return _TaskTarget(str(task_ctx.task_run.id))
        if FlowRunContext.get() is None and current_target.get() is None:
            return _DroppingTarget()
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        entry = _active.get(str(flow_ctx.flow_run.id))
        if entry is not None:
            return entry[1]
    return None


def _task_ended(engine: Any, state: Any) -> None:
    """A task run reached a state in this process: buffer it if final and its flow run is tracked."""
    try:
        state = state if state is not None else engine.state
        task_run = engine.task_run
        if task_run is None or state is None:
            return
        flow_run_id = str(task_run.flow_run_id)
        if state.is_running() and (flow_run_id in _active or spool_dir(flow_run_id).is_dir()):
            # paths a task is given count as inputs only if they exist before it runs
            found = [str(p) for p in _existing_paths(getattr(engine, "parameters", None) or {})]
            with _lock:
                _task_start_inputs[str(task_run.id)] = found
            return
        if not state.is_final():
            return
        with _lock:
            entry = _active.get(flow_run_id)
        spool = spool_dir(flow_run_id)
        if (entry is None and not spool.is_dir()) or flow_run_id in _untasked:
            return  # not a tracked flow run's task
        facts = task_facts(task_run, state, getattr(engine, "parameters", None), _result_of(state))
        if entry is None:  # another process on this machine: the flow's process merges the spool
            with _lock:
                facts["files"] = [(r, str(i), k) for r, i, k in _task_files.pop(facts["id"], [])]
            with open(spool / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(facts) + "\n")
            return
        record_task(entry[0], entry[1], facts)
    except Exception as exc:
        _report(f"task run {getattr(engine.task_run, 'name', '?')}", exc)


def merge_spool(rec: Any, flow_handle: Any, flow_run_id: str) -> int:
    """Record the task runs other processes spooled for this flow run, then remove the spool."""
    directory = spool_dir(flow_run_id)
    count = 0
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record_task(rec, flow_handle, json.loads(line))
                count += 1
    shutil.rmtree(directory, ignore_errors=True)
    return count


def _install_task_watch() -> bool:
    """Wrap Prefect's task engines' `call_hooks` (runs once per state, in the task's process).

    Task hooks proper (`on_completion`/`on_failure`) belong to each `@task` and do not fire for
    Crashed or Cancelled; the engine's call_hooks sees every final state of every task.
    """
    try:
        from prefect import task_engine
    except ImportError:
        return False
    sync_engine, async_engine = task_engine.SyncTaskRunEngine, task_engine.AsyncTaskRunEngine
    if getattr(sync_engine.call_hooks, _ADAPTER_HOOK, False):
        return True
    sync_original, async_original = sync_engine.call_hooks, async_engine.call_hooks

    @functools.wraps(sync_original)
    def sync_call_hooks(self: Any, state: Any = None) -> None:
        sync_original(self, state)
        _task_ended(self, state)

    @functools.wraps(async_original)
    async def async_call_hooks(self: Any, state: Any = None) -> None:
        await async_original(self, state)
        _task_ended(self, state)

    for wrapper in (sync_call_hooks, async_call_hooks):
        setattr(wrapper, _ADAPTER_HOOK, True)
    sync_engine.call_hooks = sync_call_hooks  # type: ignore[method-assign]
    async_engine.call_hooks = async_call_hooks  # type: ignore[method-assign]
    return True


class FlowTracker:
    """The state hooks `tracked` appends to a flow."""

    def __init__(
        self, tasks: bool = True, inputs: list[str] | None = None, outputs: bool = True, db: str | None = None
    ):
        self.tasks = tasks
        self.inputs = inputs
        self.outputs = outputs
        self.db = db

    def _store(self) -> Store:
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
        from flowprov.core.tracking.adapter_kit import enclosing_run
        from flowprov.core.tracking.context import environment_artifact
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
            enclosing = enclosing_run()
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
        if self.tasks:
            spool_dir(run_id).mkdir(parents=True, exist_ok=True)
        else:
            _untasked.add(run_id)
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
            merge_spool(rec, handle, run_id)
        _untasked.discard(run_id)
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
            getattr(result, "close", lambda: None)()  # an un-awaited coroutine: close it, read nothing
            return None
        return result
    except Exception:
        return getattr(state, "data", None)


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _parent_flow_run_id(task_run_id: Any) -> str | None:
    with _client() as client:
        task_run = client.read_task_run(task_run_id)
    return str(task_run.flow_run_id) if task_run and task_run.flow_run_id else None


def _task_name(task_key: str | None, name: str) -> str:
    return task_key.rsplit("-", 1)[0] if task_key else name.rsplit("-", 1)[0]


def _upstream(task_inputs: Any) -> list[str]:
    return sorted(
        {
            str(i.id)
            for inputs in (task_inputs or {}).values()
            for i in inputs
            if getattr(i, "input_type", "") == "task_run"
        }
    )


def task_facts(task_run: Any, state: Any, parameters: dict[str, Any] | None, result: Any) -> dict[str, Any]:
    """What is recorded of one finished task run, as plain JSON-able values (spool-safe)."""
    from flowprov.integrations.prefect_params import task_params

    state_name = getattr(state, "name", None)
    return {
        "id": str(task_run.id),
        "name": task_run.name,
        "task": _task_name(task_run.task_key, task_run.name),
        "version": task_run.task_version,
        "status": _status_of(state) if state is not None else "started",
        "cached": state_name == "Cached",
        "run_count": task_run.run_count,
        "upstream": _upstream(task_run.task_inputs),
        "start": task_run.start_time.isoformat() if task_run.start_time else None,
        "end": (task_run.end_time or _state_time(state) or dt.datetime.now(dt.UTC)).isoformat()
        if state is not None and state.is_final()
        else None,
        "params": task_params(parameters or {}),
        "inputs": _start_inputs(str(task_run.id), parameters),
        "outputs": [str(p) for p in _existing_paths(result)] if _status_of(state) == "completed" else [],
        "files": [],
    }


def _start_inputs(task_run_id: str, parameters: dict[str, Any] | None) -> list[str]:
    with _lock:
        found = _task_start_inputs.pop(task_run_id, None)
    if found is None:  # never ran here (a cache hit): what it was given exists already
        found = [str(p) for p in _existing_paths(parameters or {})]
    return found


def record_task(rec: Any, flow_handle: Any, facts: dict[str, Any]) -> Any:
    """One task run as a child run of the flow's run, buffered in the flow's Recorder."""
    from flowprov.core.tracking.recorder import TransformSpec

    spec = TransformSpec(
        key=f"{flow_handle.transform.key}#{facts['task']}",
        name=facts["task"],
        type="step",
        version=facts["version"] or flow_handle.transform.version,
    )
    aux: dict[str, Any] = {"run_count": facts["run_count"]}
    if facts["cached"]:
        aux["cached"] = True
    if facts["upstream"]:
        aux["upstream_task_runs"] = facts["upstream"]
    start = dt.datetime.fromisoformat(facts["start"]) if facts["start"] else None
    handle = rec.open_run(
        spec,
        reference=facts["id"],
        reference_type=TASK_REFERENCE_TYPE,
        name=facts["name"],
        parent=flow_handle,
        started_at=start,
        status=facts["status"],
        aux=aux,
        params=facts["params"] or None,
    )
    if start is None:
        handle.opened_at = None  # read after the fact: the moment of reading is no start
    with _lock:
        files = _task_files.pop(facts["id"], [])
    files = [*(("in", p, None) for p in facts["inputs"]), *[tuple(f) for f in facts["files"]], *files]
    files += [("out", p, None) for p in facts["outputs"]]
    seen: set[tuple[str, str]] = set()
    for role, item, key in files:
        if (role, str(item)) in seen:
            continue
        seen.add((role, str(item)))
        try:
            (handle.add_input if role == "in" else handle.add_output)(item, key)
        except Exception as exc:  # a file gone since: the task run is still recorded
            _report(f"task run {facts['name']} file {item}", exc)
    end = dt.datetime.fromisoformat(facts["end"]) if facts["end"] else None
    rec.close_run(handle, facts["status"], finished_at=end, unknown_end="Prefect gives no end time for this task run")
    return handle


def read_all_task_runs(flow_run_id: str) -> list[Any]:
    """Every task run of a flow run from Prefect's API, page by page (the server caps a page)."""
    from uuid import UUID

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    by_flow = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    found: list[Any] = []
    with _client() as client:
        while True:
            page = client.read_task_runs(flow_run_filter=by_flow, offset=len(found), limit=TASK_PAGE)
            found.extend(page)
            if len(page) < TASK_PAGE:
                return found


def record_task_runs(rec: Any, flow_handle: Any, flow_run_id: str) -> int:
    """Add a child run for every task run of a flow run read from Prefect's API (reconcile only)."""
    task_runs = read_all_task_runs(flow_run_id)
    for tr in task_runs:
        if tr.flow_run_id is not None and tr.state is not None and tr.state.state_details.child_flow_run_id:
            continue  # a subflow's placeholder: the subflow is its own run
        record_task(rec, flow_handle, task_facts(tr, tr.state, None, None))
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
            with _lock:  # e.g. `return Cancelled()`: no end hook ever fired
                entry = _active.pop(str(run.reference), None)
                _untasked.discard(str(run.reference))
            if entry is not None:  # the task runs this process saw are written first
                merge_spool(entry[0], entry[1], str(run.reference))
                entry[0].flush()
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
            record_task_runs(rec, handle, str(run.reference))
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

    def hooks(existing: list[Any], hook: Any) -> list[Any]:
        return [*(h for h in existing if not getattr(h, _ADAPTER_HOOK, False)), hook]

    running = functools.partial(FlowTracker.on_running, tracker)
    ending = functools.partial(FlowTracker.on_end, tracker)
    for h in (running, ending):
        setattr(h, _ADAPTER_HOOK, True)
        h.__name__ = "flowprov"  # type: ignore[attr-defined]  # Prefect logs hook names
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
    _install_task_watch()
    return _attach(flow, FlowTracker(tasks=tasks, inputs=inputs, outputs=outputs, db=db))


def _install_resolver() -> None:
    from flowprov.core.tracking import targets

    if _resolve_target not in targets.target_resolvers:
        targets.target_resolvers.append(_resolve_target)


_install_resolver()
_install_task_watch()  # also in task-runner child processes, which import this module but call no tracked()
