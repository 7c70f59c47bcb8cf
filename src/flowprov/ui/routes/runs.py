"""The runs list (filters in the URL are the Python API's lookups) and one run."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowprov.core.store.connection import Store
from flowprov.ui import queries, timeline
from flowprov.ui.filters import SORTABLE, parse_runs_query
from flowprov.ui.routes import view
from flowprov.ui.templating import page


@view
def runs_list(request: Request, store: Store) -> Response:
    query = parse_runs_query(request.query_params)
    rows, has_next = queries.runs_page(store, query)
    template = "runs_table.html" if request.headers.get("hx-request") else "runs.html"
    return page(request, template, title="Runs", rows=rows, query=query, has_next=has_next, sortable=SORTABLE)


@view
def run_page(request: Request, store: Store) -> Response:
    run = queries.run_detail(store, request.path_params["uid"])
    bars = timeline.gantt(run["child_runs"])
    return page(
        request,
        "run.html",
        title=f"Run {run['name'] or run['transform']['key'] or run['transform']['name'] or run['uid']}",
        run=run,
        gantt=bars,
    )


routes = [Route("/", runs_list), Route("/runs", runs_list), Route("/runs/{uid}", run_page)]
