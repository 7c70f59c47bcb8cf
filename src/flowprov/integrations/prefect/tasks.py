"""Task runs, seen in the flow's own process as they reach a final state.

Prefect's task engines call `call_hooks` once per state, in the process the task runs in; the
adapter wraps it (`install_task_watch`) and buffers each final task run in its flow run's
Recorder. A task in another process on this machine (ProcessPoolTaskRunner) appends its facts to
`spool_dir(flow_run_id)/<pid>.jsonl`, which the flow's end merges (`merge_spool`).
`track_input`/`track_output` inside a task are kept until that task run is recorded; under
`@tracked(tasks=False)` they go to the flow run itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from flowprov.integrations.prefect.common import (
    ADAPTER_HOOK,
    TASK_REFERENCE_TYPE,
    active,
    existing_paths,
    lock,
    result_of,
    state_time,
    status_of,
    task_files,
    task_start_inputs,
    warn,
)


class _TaskTarget:
    """track_input/track_output inside a task run: kept until the task run is recorded."""

    def __init__(self, task_run_id: str):
        self.task_run_id = task_run_id

    def add_input(self, item: Any, key: str | None = None) -> Any:
        with lock:
            task_files.setdefault(self.task_run_id, []).append(("in", item, key))

    def add_output(self, item: Any, key: str | None = None) -> Any:
        with lock:
            task_files.setdefault(self.task_run_id, []).append(("out", item, key))


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


@functools.lru_cache(maxsize=4096)
def _spooled(flow_run_id: str) -> bool:
    """Whether a flow run's process made a spool folder for this machine's other processes. Asked
    once per flow run (an untracked flow's tasks pay no `stat` per state): the folder is made when
    the flow run starts, before any of its tasks."""
    return spool_dir(flow_run_id).is_dir()


def _tracked_here_or_nearby(flow_run_id: str) -> bool:
    return flow_run_id in active or _spooled(flow_run_id)


def resolve_target() -> Any:
    """The recording target for code running in a Prefect task run or flow run, if tracked."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:
        return None
    from flowprov.core.tracking.adapter_kit import current_target

    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run is not None:
        flow_run_id = str(task_ctx.task_run.flow_run_id)
        recording = active.get(flow_run_id)
        if recording is not None and not recording.tasks:
            return recording.handle  # no task runs recorded: the flow run owns the task's files
        if _tracked_here_or_nearby(flow_run_id):
            return _TaskTarget(str(task_ctx.task_run.id))
        if FlowRunContext.get() is None and current_target.get() is None:
            return _DroppingTarget()
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        recording = active.get(str(flow_ctx.flow_run.id))
        if recording is not None:
            return recording.handle
    return None


def _task_started(engine: Any, task_run: Any) -> None:
    # paths a task is given count as inputs only if they exist before it runs
    found = [str(p) for p in existing_paths(getattr(engine, "parameters", None) or {})]
    with lock:
        task_start_inputs[str(task_run.id)] = found


def _task_finished(engine: Any, task_run: Any, state: Any) -> None:
    flow_run_id = str(task_run.flow_run_id)
    with lock:
        recording = active.get(flow_run_id)
    if recording is None and not _spooled(flow_run_id):
        return  # not a tracked flow run's task
    if recording is not None and not recording.tasks:
        return
    facts = task_facts(task_run, state, getattr(engine, "parameters", None), result_of(state))
    if recording is None:  # another process on this machine: the flow's process merges the spool
        with lock:
            facts["files"] = [(r, str(i), k) for r, i, k in task_files.pop(facts["id"], [])]
        with open(spool_dir(flow_run_id) / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(facts) + "\n")
        return
    record_task(recording.rec, recording.handle, facts)


def task_state_changed(engine: Any, state: Any) -> None:
    """A task run reached a state in this process: buffer it if final and its flow run is tracked."""
    try:
        state = state if state is not None else engine.state
        task_run = engine.task_run
        if task_run is None or state is None:
            return
        if state.is_running() and _tracked_here_or_nearby(str(task_run.flow_run_id)):
            _task_started(engine, task_run)
        elif state.is_final():
            _task_finished(engine, task_run, state)
    except Exception as exc:  # recording never changes the task's outcome
        warn(f"the Prefect task run {getattr(engine.task_run, 'name', '?')}", exc)


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


def install_task_watch() -> bool:
    """Wrap Prefect's task engines' `call_hooks` (runs once per state, in the task's process).

    Task hooks proper (`on_completion`/`on_failure`) belong to each `@task` and do not fire for
    Crashed or Cancelled; the engine's call_hooks sees every final state of every task.
    """
    try:
        from prefect import task_engine
    except ImportError:
        return False
    sync_engine, async_engine = task_engine.SyncTaskRunEngine, task_engine.AsyncTaskRunEngine
    if getattr(sync_engine.call_hooks, ADAPTER_HOOK, False):
        return True
    sync_original, async_original = sync_engine.call_hooks, async_engine.call_hooks

    @functools.wraps(sync_original)
    def sync_call_hooks(self: Any, state: Any = None) -> None:
        sync_original(self, state)
        task_state_changed(self, state)

    @functools.wraps(async_original)
    async def async_call_hooks(self: Any, state: Any = None) -> None:
        await async_original(self, state)
        task_state_changed(self, state)

    for wrapper in (sync_call_hooks, async_call_hooks):
        setattr(wrapper, ADAPTER_HOOK, True)
    sync_engine.call_hooks = sync_call_hooks  # type: ignore[method-assign]
    async_engine.call_hooks = async_call_hooks  # type: ignore[method-assign]
    return True


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


def _end_time(task_run: Any, state: Any) -> str | None:
    if state is None or not state.is_final():
        return None
    return (task_run.end_time or state_time(state) or dt.datetime.now(dt.UTC)).isoformat()


def task_facts(task_run: Any, state: Any, parameters: dict[str, Any] | None, result: Any) -> dict[str, Any]:
    """What is recorded of one finished task run, as plain JSON-able values (spool-safe)."""
    from flowprov.integrations.prefect_params import task_params

    return {
        "id": str(task_run.id),
        "name": task_run.name,
        "task": _task_name(task_run.task_key, task_run.name),
        "version": task_run.task_version,
        "status": status_of(state) if state is not None else "started",
        "cached": getattr(state, "name", None) == "Cached",
        "run_count": task_run.run_count,
        "upstream": _upstream(task_run.task_inputs),
        "start": task_run.start_time.isoformat() if task_run.start_time else None,
        "end": _end_time(task_run, state),
        "params": task_params(parameters or {}),
        "inputs": _start_inputs(str(task_run.id), parameters),
        "outputs": [str(p) for p in existing_paths(result)] if status_of(state) == "completed" else [],
        "files": [],
    }


def _start_inputs(task_run_id: str, parameters: dict[str, Any] | None) -> list[str]:
    with lock:
        found = task_start_inputs.pop(task_run_id, None)
    if found is None:  # never ran here (a cache hit): what it was given exists already
        found = [str(p) for p in existing_paths(parameters or {})]
    return found


def _open_task_run(rec: Any, flow_handle: Any, facts: dict[str, Any]) -> Any:
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
    return handle


def _add_task_files(handle: Any, facts: dict[str, Any]) -> None:
    with lock:
        added = task_files.pop(facts["id"], [])
    files = [*(("in", p, None) for p in facts["inputs"]), *[tuple(f) for f in facts["files"]], *added]
    files += [("out", p, None) for p in facts["outputs"]]
    seen: set[tuple[str, str]] = set()
    for role, item, key in files:
        if (role, str(item)) in seen:
            continue
        seen.add((role, str(item)))
        try:
            (handle.add_input if role == "in" else handle.add_output)(item, key)
        except Exception as exc:  # a file gone since: the task run is still recorded
            warn(f"file {item} of the Prefect task run {facts['name']}", exc)


def record_task(rec: Any, flow_handle: Any, facts: dict[str, Any]) -> Any:
    """One task run as a child run of the flow's run, buffered in the flow's Recorder."""
    handle = _open_task_run(rec, flow_handle, facts)
    _add_task_files(handle, facts)
    end = dt.datetime.fromisoformat(facts["end"]) if facts["end"] else None
    rec.close_run(handle, facts["status"], finished_at=end, unknown_end="Prefect gives no end time for this task run")
    return handle
