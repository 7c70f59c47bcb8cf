"""Routes, one module per page; each view reads through `fresh_store` so it sees current data."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from flowprov.core.store.connection import Store


def view(func: Callable[[Request, Store], Response]) -> Callable[[Request], Response]:
    """A sync endpoint (Starlette runs it in a worker thread) given the app's store; the thread's
    session is closed afterwards, so the next request never sees records cached by this one."""

    @wraps(func)
    def endpoint(request: Request) -> Response:
        store: Store = request.app.state.store
        try:
            return func(request, store)
        finally:
            store.session.close()

    return endpoint


def param(request: Request, name: str, default: Any = None) -> Any:
    return request.path_params.get(name, request.query_params.get(name, default))
