"""The artifacts list and one artifact (its versions, who wrote and who read it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowprov.core.store.connection import Store
from flowprov.ui import queries
from flowprov.ui.routes import view
from flowprov.ui.templating import page


@view
def artifacts_list(request: Request, store: Store) -> Response:
    return page(request, "artifacts.html", title="Artifacts", rows=queries.artifacts_page(store))


@view
def artifact_page(request: Request, store: Store) -> Response:
    artifact = queries.artifact_detail(store, request.path_params["uid"])
    return page(request, "artifact.html", title=f"Artifact {artifact['key'] or artifact['uid']}", artifact=artifact)


routes = [Route("/artifacts", artifacts_list), Route("/artifacts/{uid}", artifact_page)]
