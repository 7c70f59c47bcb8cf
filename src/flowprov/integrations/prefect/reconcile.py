"""Flow runs whose end no hook in this process saw, settled from Prefect's API.

`return Cancelled()` fires no hook; a crashed worker or a cancelled deployment run ends in a
runner process that never opened the record. `reconcile_pending` (run by `flowprov prefect
reconcile`, and when the next tracked flow run starts) reads the final state and every task run,
page by page, and writes them onto the stored run.
"""

from __future__ import annotations

from typing import Any

from flowprov.integrations.prefect.common import (
    REFERENCE_TYPE,
    active,
    client,
    lock,
    state_time,
    status_of,
)
from flowprov.integrations.prefect.tasks import merge_spool, record_task, task_facts

TASK_PAGE = 200  # Prefect server's largest page of task runs


def read_all_task_runs(flow_run_id: str) -> list[Any]:
    """Every task run of a flow run from Prefect's API, page by page (the server caps a page)."""
    from uuid import UUID

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    by_flow = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    found: list[Any] = []
    with client() as api:
        while True:
            page = api.read_task_runs(flow_run_filter=by_flow, offset=len(found), limit=TASK_PAGE)
            found.extend(page)
            if len(page) < TASK_PAGE:
                return found


def record_task_runs(rec: Any, flow_handle: Any, flow_run_id: str) -> int:
    """Add a child run for every task run of a flow run read from Prefect's API."""
    task_runs = read_all_task_runs(flow_run_id)
    for tr in task_runs:
        if tr.state is not None and tr.state.state_details.child_flow_run_id:
            continue  # a subflow's (or run_deployment's) placeholder: the child flow is its own run
        record_task(rec, flow_handle, task_facts(tr, tr.state, None, None))
    return len(task_runs)


def stored_spec(run: Any) -> Any:
    """The TransformSpec of a stored run's transform: writing onto the run keeps its transform."""
    from flowprov.core.tracking.recorder import TransformSpec

    t = run.transform
    return TransformSpec(key=t.key, name=t.name, type=t.type, version=t.version_tag, source_code=t.source_code)


def reopen_stored(rec: Any, run: Any, aux: dict[str, Any] | None = None) -> Any:
    """A handle that writes end facts onto a stored flow run (its start and transform unchanged)."""
    handle = rec.open_run(
        stored_spec(run), reference=run.reference, reference_type=REFERENCE_TYPE, name=run.name, status=None, aux=aux
    )
    handle.opened_at = None  # the stored start stays
    return handle


def _settle(rec: Any, run: Any, flow_run: Any) -> None:
    state = flow_run.state
    with lock:  # e.g. `return Cancelled()`: no end hook ever fired
        recording = active.pop(str(run.reference), None)
    if recording is not None:  # the task runs this process saw are written first
        merge_spool(recording.rec, recording.handle, str(run.reference))
        recording.rec.flush()
    handle = reopen_stored(rec, run, {"reconciled": True, "prefect_state": state.name})
    record_task_runs(rec, handle, str(run.reference))
    rec.close_run(
        handle,
        status_of(state),
        finished_at=flow_run.end_time or state_time(state),
        unknown_end="Prefect's API gives no end time for this flow run",
    )


def reconcile_pending(store: Any = None, exclude: set[str] | None = None) -> int:
    """Settle tracked flow runs whose end was never seen, from Prefect's API; returns how many."""
    from flowprov.core.tracking.recorder import Recorder

    if store is None:
        return 0
    rec = Recorder(store)
    pending = [r for r in rec.unfinished_runs(REFERENCE_TYPE) if r.reference not in (exclude or set())]
    if not pending:
        return 0
    settled = 0
    with client() as api:
        for run in pending:
            try:
                flow_run = api.read_flow_run(run.reference)
            except Exception:  # not in this Prefect server (another workspace): leave it
                continue
            if flow_run.state is None or not flow_run.state.is_final():
                continue  # still running somewhere
            _settle(rec, run, flow_run)
            settled += 1
    rec.flush()
    return settled
