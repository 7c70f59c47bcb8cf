"""Recording that never breaks the script: a run whose store cannot be written goes to a spool file.

`track()` falls back to an `OfflineRun` when the store cannot be opened or written (unreachable,
read-only, foreign); a run that loses its store halfway (a failed `track_output()` or `finish()`)
continues as one with the same uid. It buffers the same facts in a Recorder that never connects,
and `finish()` first tries the store once more, then writes the spool file and says, in one line,
where it is and how to replay it. `report_failure()` is the one-line report every adapter uses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.exceptions import StoreError, StoreNeedsMigration

if TYPE_CHECKING:
    import datetime as dt

    from flowprov.core.registry import Run
    from flowprov.core.tracking.recorder import FileSpec, Recorder, TransformSpec


def store_failures() -> tuple[type[BaseException], ...]:
    """What a store that cannot be opened or written raises (a bug elsewhere is not caught)."""
    from sqlalchemy.exc import DBAPIError

    from flowprov.core.tracking.recorder import RecorderError

    return (StoreError, StoreNeedsMigration, RecorderError, DBAPIError, OSError)


def reason_of(exc: BaseException) -> str:
    from flowprov.core.store.engine import driver_reason

    text = driver_reason(exc) if hasattr(exc, "orig") else str(exc)
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def report_failure(what: str, exc: BaseException, recorder: Recorder | None = None) -> Path | None:
    """One line on stderr: what could not be recorded and why; the buffer spooled, and where."""
    spooled: Path | None = None
    if recorder is not None and any(h.dirty for h in recorder.handles):
        try:
            spooled = recorder.spool()
        except Exception as spool_exc:  # nowhere to save it either: say so, in the same line
            print(
                f"flowprov: error: could not record {what}: {reason_of(exc)}; "
                f"and could not spool it: {reason_of(spool_exc)}",
                file=sys.stderr,
            )
            return None
    where = f"; saved to {spooled}: write it later with `flowprov spool replay`" if spooled else ""
    print(f"flowprov: error: could not record {what}: {reason_of(exc)}{where}", file=sys.stderr)
    return spooled


class OfflineRun:
    """A script's run recorded into a spool file (see module doc)."""

    def __init__(
        self,
        spec: TransformSpec,
        *,
        name: str | None,
        params: dict[str, Any] | None,
        aux: dict[str, Any],
        uid: str | None = None,
        parent_uid: str | None = None,
        started_at: dt.datetime | None = None,
    ) -> None:
        from flowprov.core.tracking.recorder import Recorder
        from flowprov.core.uid import base62

        self.rec = Recorder(store=_NotConnected())
        self.handle = self.rec.open_run(
            spec, reference=None, reference_type=None, name=name, params=params, started_at=started_at, aux=aux
        )
        self.handle.uid = uid or base62(16)
        self.handle.parent_run_uid = parent_uid
        self.label = spec.key

    def set_environment(self, path: Path) -> None:
        self.handle.set_environment(path)

    def add_input(self, item: Any, key: str | None = None) -> FileSpec:
        return self.handle.add_input(item, key)

    def add_output(self, item: Any, key: str | None = None) -> FileSpec:
        return self.handle.add_output(item, key)

    def finish(self, status: str, error: dict[str, Any] | None) -> Path | None:
        """Close the run; write it to the store if it answers now, else spool it (one line)."""
        if error:
            self.handle.update_aux(error)
        self.rec.close_run(self.handle, status)
        try:
            from flowprov.core.store.connection import current_store

            self.rec._store = current_store()
            self.rec.flush()
            return None
        except store_failures() as exc:
            self.rec._store = None
            return report_failure(f"the run of {self.label}", exc, self.rec)

    @classmethod
    def continuing(cls, facts: dict[str, Any], aux: dict[str, Any] | None = None) -> OfflineRun:
        """The same run (same uid), carried on offline after its store failed halfway; `facts`
        are `run_facts()` taken when the run was stored (the record itself may be expired then,
        and reloading it needs the store that just failed)."""
        return cls(
            facts["spec"],
            name=facts["name"],
            params=facts["params"],
            aux={**facts["aux"], **(aux or {})},
            uid=facts["uid"],
            parent_uid=facts["parent_uid"],
            started_at=facts["started_at"],
        )


def run_facts(run: Run) -> dict[str, Any]:
    """What `OfflineRun.continuing` needs of a stored run, read while the store answers."""
    from flowprov.core.tracking.recorder import TransformSpec

    t = run.transform
    spec = TransformSpec(
        key=t.key or "unknown", name=t.name, type=t.type or "script", version=t.version_tag, source_code=t.source_code
    )
    parent = run.initiated_by_run
    return {
        "spec": spec,
        "name": run.name,
        "params": dict(run.__dict__.get("_params") or {}),
        "aux": dict(run.aux or {}),
        "uid": run.uid,
        "parent_uid": parent.uid if parent is not None else None,
        "started_at": run.started_at,
    }


class _NotConnected:
    """The store of an offline recorder: the spool file names no store, and nothing connects."""

    display_url = None

    def in_write_transaction(self) -> bool:
        return False
