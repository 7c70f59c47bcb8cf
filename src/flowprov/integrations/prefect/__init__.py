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
hits marked in aux, upstream task runs in aux), subflows and `run_deployment` children under their
parent flow's run, the environment listing as the run's environment, files:
parameters that are existing paths become inputs, returned paths become outputs, plus
`flowprov.track_input()` / `track_output()` inside flows and tasks.

States: Completed -> completed, Failed (also a timeout) -> errored, Crashed and Cancelled ->
aborted; a retry marks the run restarted until its final state. Prefect logs and swallows
exceptions raised in hooks, so the adapter prints its own failures to stderr itself, in one line;
a store that cannot be written leaves the flow's result, exception and exit status as they are,
and the recording goes to a spool file for `flowprov spool replay`. A run whose
end the adapter never saw (`return Cancelled()` fires no hook; a crashed worker) is reconciled
from Prefect's API by `flowprov prefect reconcile`, and automatically when the next tracked flow
run starts.

Modules: `flows` (the flow state hooks), `tasks` (task runs from Prefect's task engine, the
process-pool spool, `track_input`/`track_output` targets), `reconcile` (ends no hook saw, from
the API), `common` (shared state and readers of Prefect objects).
"""

from __future__ import annotations

import functools
from typing import Any

from flowprov.integrations.prefect.common import (
    ADAPTER_HOOK,
    REFERENCE_TYPE,
    STATE_STATUS,
    TASK_REFERENCE_TYPE,
)
from flowprov.integrations.prefect.flows import FlowTracker, flow_identity, flow_transform
from flowprov.integrations.prefect.reconcile import (
    TASK_PAGE,
    read_all_task_runs,
    reconcile_pending,
    record_task_runs,
)
from flowprov.integrations.prefect.tasks import (
    install_task_watch,
    merge_spool,
    record_task,
    resolve_target,
    spool_dir,
    task_facts,
)

__all__ = [
    "REFERENCE_TYPE",
    "STATE_STATUS",
    "TASK_PAGE",
    "TASK_REFERENCE_TYPE",
    "FlowTracker",
    "flow_transform",
    "merge_spool",
    "read_all_task_runs",
    "reconcile_pending",
    "record_task",
    "record_task_runs",
    "spool_dir",
    "task_facts",
    "tracked",
]


def _attach(flow: Any, tracker: FlowTracker) -> Any:
    """The flow with the tracker's hooks appended (once) and a with_options that keeps them."""

    def hooks(existing: list[Any], hook: Any) -> list[Any]:
        return [*(h for h in existing if not getattr(h, ADAPTER_HOOK, False)), hook]

    running = functools.partial(FlowTracker.on_running, tracker)
    ending = functools.partial(FlowTracker.on_end, tracker)
    for h in (running, ending):
        setattr(h, ADAPTER_HOOK, True)
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

    Options: `tasks` records task runs as child runs (with `tasks=False`, files added inside
    tasks belong to the flow run); `inputs` limits which parameters are checked for existing
    paths (default: all); `outputs` records returned paths; `db` names a store.
    """
    if flow is None:
        return lambda f: tracked(f, tasks=tasks, inputs=inputs, outputs=outputs, db=db)
    from prefect import Flow

    if not isinstance(flow, Flow):
        raise TypeError(
            f"@tracked must be placed above @flow (it got {getattr(flow, '__name__', flow)!r}, not a Prefect Flow): "
            "write @tracked on the line above @flow"
        )
    install_task_watch()
    tracker = FlowTracker(tasks=tasks, inputs=inputs, outputs=outputs, db=db)
    tracker.identity = flow_identity(flow)  # here, where the flow's file is at hand (see flow_identity)
    return _attach(flow, tracker)


def _install_resolver() -> None:
    from flowprov.core.tracking.adapter_kit import target_resolvers

    if resolve_target not in target_resolvers:
        target_resolvers.append(resolve_target)


_install_resolver()
install_task_watch()  # also in task-runner child processes, which import this module but call no tracked()
