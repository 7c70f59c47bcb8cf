"""Where `track_input()` / `track_output()` send files: the innermost active run context.

A script's `track()` installs an immediate target (each call writes at once); adapters install a
recorder handle for the flow or task that is running (calls are buffered and written with the
rest of that run). The innermost one wins, per thread and per asyncio task (a ContextVar).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol


class RunTarget(Protocol):
    def add_input(self, item: Any, key: str | None = None) -> Any: ...

    def add_output(self, item: Any, key: str | None = None) -> Any: ...


current_target: ContextVar[RunTarget | None] = ContextVar("flowprov_current_target", default=None)

# Adapters whose runs live in the manager's own context (Prefect's flow and task run contexts)
# register a function here that returns the target for the code running now, or None.
target_resolvers: list[Callable[[], RunTarget | None]] = []


def find_target() -> RunTarget | None:
    for resolve in target_resolvers:
        target = resolve()
        if target is not None:
            return target
    return current_target.get()


def as_path(item: Any) -> Path | None:
    if isinstance(item, (str, os.PathLike)):
        return Path(item)
    return None
