"""Live OpenLineage events: the listener core/tracking calls after it writes runs (when enabled).

Enabled with `FLOWPROV_OPENLINEAGE=1` or `openlineage = true` in `.flowprov/config.toml`. Each
run written gets its START event once and, once it has ended, its COMPLETE / FAIL / ABORT event,
built exactly as `flowprov export --format openlineage` builds them and sent through the
client's own configuration (openlineage.yml, OPENLINEAGE__* variables). A transport that fails
raises here; core's listener hook reports it once and recording goes on.
"""

from __future__ import annotations

from typing import Any

_client: Any = None
_sent: set[tuple[str, str]] = set()  # (runId, eventType) already emitted by this process


def _get_client() -> Any:
    global _client
    if _client is None:
        from openlineage.client import OpenLineageClient

        _client = OpenLineageClient()
    return _client


def on_runs_written(run_ids: list[int], store: Any = None) -> None:
    from flowprov.core.registry import Run
    from flowprov.core.store.connection import current_store
    from flowprov.interop import openlineage
    from flowprov.interop.selection import Selection, _run_view, _with_ancestors

    store = store or current_store()
    session = store.session
    try:
        for run_id in run_ids:
            run = session.get(Run, run_id)
            if run is None:
                continue
            artifacts: dict[str, Any] = {}
            chain = _with_ancestors([run])
            views = [_run_view(r, artifacts) for r in reversed(chain)]  # ancestors first
            selection = Selection(root=run.uid, runs=views, artifacts=artifacts)
            namespace = store.name or "flowprov"
            for event in openlineage.run_events(views[-1], selection, namespace):
                key = (event.run.runId, event.eventType.value)
                if key not in _sent:
                    _get_client().emit(event)
                    _sent.add(key)
    finally:
        store.release()
