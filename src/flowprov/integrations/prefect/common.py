"""What the Prefect adapter's modules share: the flow runs recorded in this process, Prefect's
state names, and small readers of Prefect objects."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.tracking.adapter_kit import ReferenceType

if TYPE_CHECKING:
    from flowprov.core.tracking.recorder import Recorder, RunHandle

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
ADAPTER_HOOK = "_flowprov_hook"  # marks the adapter's own hooks and wrappers
# written only at the flow run's start and end: a failing store then costs two attempts, and a
# task hook (another thread, Prefect swallows its errors) never writes
NO_AUTO_FLUSH = 10**9


@dataclass
class FlowRecording:
    """A flow run being recorded in this process."""

    rec: Recorder
    handle: RunHandle
    tasks: bool  # task runs recorded as child runs (else files added in tasks go to the flow run)
    # the store could not be written: everything stays buffered, and the end spools it
    failure: BaseException | None = None


# flow run id -> its recording; task run id -> files added inside the task before it is recorded
active: dict[str, FlowRecording] = {}
task_files: dict[str, list[tuple[str, Any, str | None]]] = {}
task_start_inputs: dict[str, list[str]] = {}  # task run id -> parameter paths that existed at its start
lock = threading.RLock()


class Unconnected:
    """The store of a recorder whose store could not be opened: nothing connects, the spool
    file names no store."""

    display_url = None

    def in_write_transaction(self) -> bool:
        return False


def warn(what: str, exc: BaseException) -> None:
    """One line on stderr for a fact that could not be recorded (the run itself still is)."""
    print(f"flowprov: warning: {what} not recorded: {type(exc).__name__}: {exc}", file=sys.stderr)


def status_of(state: Any) -> str:
    return STATE_STATUS.get(str(getattr(state.type, "value", state.type)).upper(), "started")


def state_time(state: Any) -> dt.datetime | None:
    """When a Prefect state was entered (a final state's time is the run's end)."""
    value = getattr(state, "timestamp", None)
    return value if isinstance(value, dt.datetime) else None


def result_of(state: Any) -> Any:
    """The value a final state holds, read from memory only (`_get_state_result`'s cases without
    the I/O): a ResultRecord's value, else the attached value; a result persisted elsewhere
    (ResultRecordMetadata) is not read. Never `state.result()`: from a task's thread it hops to
    Prefect's event-loop thread and waits there (88% of the adapter's time per task in a
    200-task flow), and it may read result storage."""
    data = getattr(state, "data", None)
    kind = type(data).__name__
    if kind == "ResultRecord":
        return getattr(data, "result", None)
    if kind == "ResultRecordMetadata" or inspect.isawaitable(data) or isinstance(data, BaseException):
        return None
    return data


def existing_paths(values: Any, names: list[str] | None = None) -> list[Path]:
    """The existing files and folders among values (nested in dicts, lists, tuples, sets)."""
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


def client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)
