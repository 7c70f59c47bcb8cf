"""Run listeners: code above core that wants to hear when runs are written (live OpenLineage events).

The Recorder (after each flush) and `track()` / `finish()` call `notify(run_ids)`. Listeners are
loaded on the first call, only when enabled — `FLOWPROV_OPENLINEAGE=1`, or `openlineage = true`
in the project's `.flowprov/config.toml` — by module name, so core never imports the feature
packages. A listener that fails is reported once on stderr, is not called again in that process, and never
breaks recording.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from collections.abc import Callable
from typing import Any

# (switch, module:function) of each listener; the function takes the ids of the runs just written and their store
LISTENERS = (("openlineage", "flowprov.interop.live:on_runs_written"),)
_loaded: list[tuple[str, Callable[[list[int], Any], None]]] | None = None
_reported: set[str] = set()


def _enabled(switch: str) -> bool:
    value = os.environ.get(f"FLOWPROV_{switch.upper()}")
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on")
    from flowprov.core.store.settings import PROJECT_CONFIG, find_project_dir

    project = find_project_dir()
    if project is None or not (project / PROJECT_CONFIG).exists():
        return False
    try:
        with open(project / PROJECT_CONFIG, "rb") as fh:
            return tomllib.load(fh).get(switch) is True
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _listeners() -> list[tuple[str, Callable[[list[int], Any], None]]]:
    global _loaded
    if _loaded is None:
        _loaded = []
        for switch, target in LISTENERS:
            if _enabled(switch):
                module, _, name = target.partition(":")
                try:
                    _loaded.append((switch, getattr(importlib.import_module(module), name)))
                except Exception as exc:  # a missing extra: say so once, record on
                    _report(switch, f"cannot load {target}: {type(exc).__name__}: {exc}")
    return _loaded


def _report(switch: str, message: str) -> None:
    if switch not in _reported:
        _reported.add(switch)
        print(
            f"flowprov: {switch} events are not sent ({message}); recording goes on without them in this process",
            file=sys.stderr,
        )


def notify(run_ids: list[int], store: Any = None) -> None:
    """Tell the enabled listeners which runs were just written (to `store`); never raises."""
    if not run_ids:
        return
    try:
        listeners = _listeners()
    except Exception as exc:  # a broken config: recording goes on
        _report("listener", str(exc))
        return
    for switch, listener in list(listeners):
        try:
            listener(run_ids, store)
        except Exception as exc:
            # off for the rest of this process: a dead lineage server must not cost the workflow a
            # transport's retries and back-off for every run it writes
            listeners.remove((switch, listener))
            _report(switch, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def reset() -> None:
    """Forget loaded listeners and reported failures (tests, a changed configuration)."""
    global _loaded
    _loaded = None
    _reported.clear()
