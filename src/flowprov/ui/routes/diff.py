"""The diff page: `flowprov diff A B` rendered by flowprov.diff itself (its HTML, every layer).

`/diff/B` is `flowprov diff B`: B against the run before it. The run page links there rather than
looking the earlier run up itself, so a run page costs no family scan on a store of a million runs.

flowprov.diff reads the current store; `using_store` binds the UI's read-only store to the
request's worker thread for the call, so the diff never reads (or could write) another store.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowprov.core.store.connection import Store, using_store
from flowprov.ui.routes import view
from flowprov.ui.templating import page


def run_diff(store: Store, request: Request) -> dict[str, Any]:
    """`flowprov diff A B --json` (`--all` with `?all=1`); without B, A against the run before it."""
    import flowprov

    a = request.path_params["a"]
    b = request.path_params.get("b")
    with using_store(store):
        result = flowprov.diff(a, b)
        return result.to_dict(all=request.query_params.get("all") == "1")


@view
def diff_page(request: Request, store: Store) -> Response:
    from flowprov.diff.render import render_html

    data = run_diff(store, request)
    return page(
        request,
        "diff.html",
        title=f"Diff {data['a']['uid']} → {data['b']['uid']}",
        data=data,
        diff_html=render_html(data),  # escapes every value itself
        show_all=request.query_params.get("all") == "1",
    )


routes = [Route("/diff/{a}/{b}", diff_page), Route("/diff/{a}", diff_page)]
