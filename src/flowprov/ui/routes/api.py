"""`/api/...`: the pages' data as JSON, in the shapes the CLI's --json prints."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse as StarletteJSON
from starlette.responses import Response
from starlette.routing import Route

from flowprov.core.store.connection import Store
from flowprov.ui import queries
from flowprov.ui.filters import parse_runs_query
from flowprov.ui.routes import view
from flowprov.ui.routes.diff import run_diff
from flowprov.ui.routes.lineage import lineage_elements


class JSONResponse(StarletteJSON):
    """JSON with anything unusual (a datetime in params) as its string, like the CLI's --json."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, ensure_ascii=False).encode()


@view
def runs(request: Request, store: Store) -> Response:
    query = parse_runs_query(request.query_params)
    rows, has_next = queries.runs_page(store, query)
    for row in rows:
        row.pop("transform_uid", None)  # the row is `flowprov runs --json`'s
    return JSONResponse(rows, headers={"X-Has-Next-Page": "true" if has_next else "false"})


@view
def run(request: Request, store: Store) -> Response:
    return JSONResponse(queries.run_detail(store, request.path_params["uid"]))


@view
def artifacts(request: Request, store: Store) -> Response:
    return JSONResponse(queries.artifacts_page(store))


@view
def artifact(request: Request, store: Store) -> Response:
    return JSONResponse(queries.artifact_detail(store, request.path_params["uid"]))


@view
def transforms(request: Request, store: Store) -> Response:
    return JSONResponse(queries.transforms_page(store))


@view
def transform(request: Request, store: Store) -> Response:
    data = queries.transform_detail(store, request.path_params["uid"], request.query_params.get("compare"))
    return JSONResponse(data)


@view
def lineage(request: Request, store: Store) -> Response:
    return JSONResponse(lineage_elements(request, store))


@view
def diff(request: Request, store: Store) -> Response:
    return JSONResponse(run_diff(store, request))


routes = [
    Route("/runs", runs),
    Route("/runs/{uid}", run),
    Route("/artifacts", artifacts),
    Route("/artifacts/{uid}", artifact),
    Route("/transforms", transforms),
    Route("/transforms/{uid}", transform),
    Route("/lineage/{uid}", lineage),
    Route("/diff/{a}/{b}", diff),
    Route("/diff/{a}", diff),
]
