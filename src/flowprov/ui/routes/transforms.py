"""The transforms list and one transform (its versions and a source diff between two)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowprov.core.store.connection import Store
from flowprov.ui import queries
from flowprov.ui.routes import view
from flowprov.ui.templating import page


@view
def transforms_list(request: Request, store: Store) -> Response:
    return page(request, "transforms.html", title="Transforms", rows=queries.transforms_page(store))


@view
def transform_page(request: Request, store: Store) -> Response:
    data = queries.transform_detail(store, request.path_params["uid"], request.query_params.get("compare"))
    return page(request, "transform.html", title=f"Transform {data['key'] or data['name']}", transform=data)


routes = [Route("/transforms", transforms_list), Route("/transforms/{uid}", transform_page)]
