"""The lineage page (cytoscape in the browser) and its Graphviz SVG for browsers without JavaScript."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flowprov.core.exceptions import DoesNotExist
from flowprov.core.registry import Artifact, Run
from flowprov.core.store.connection import Store
from flowprov.ui import graph
from flowprov.ui.routes import view
from flowprov.ui.templating import page


def find_focus(store: Store, uid: str) -> Any:
    """The artifact or run with this uid (or uid prefix)."""
    for model in (Run, Artifact) if len(uid) == 16 else (Artifact, Run):
        try:
            return model.using(store).get(uid)
        except DoesNotExist:
            continue
    raise DoesNotExist(f"no run or artifact has uid {uid!r}")


def graph_options(request: Request) -> dict[str, Any]:
    params = request.query_params
    depth = params.get("depth", "3")
    if not depth.isdigit():
        raise ValueError(f"depth={depth!r}: use a whole number")
    return {
        "direction": params.get("direction", "upstream"),
        "depth": int(depth),
        "group": params.get("group", "auto"),
    }


def lineage_elements(request: Request, store: Store) -> dict[str, Any]:
    focus = find_focus(store, request.path_params["uid"])
    return graph.lineage_view(store, focus, **graph_options(request)) | {
        "focus_kind": "run" if isinstance(focus, Run) else "artifact"
    }


@view
def lineage_page(request: Request, store: Store) -> Response:
    elements = lineage_elements(request, store)
    focus_label = next((n["data"]["label"] for n in elements["nodes"] if n["data"]["id"] == elements["focus"]), "")
    return page(
        request,
        "lineage.html",
        title=f"Lineage of {focus_label or elements['focus']}",
        elements=elements,
        options=graph_options(request),
        focus_label=focus_label,
        svg_query=request.url.query,
    )


@view
def lineage_svg(request: Request, store: Store) -> Response:
    svg = graph.render_svg(graph.to_dot(lineage_elements(request, store)))
    if svg is None:
        return Response("Graphviz `dot` is not installed: the graph needs JavaScript", 404, media_type="text/plain")
    return Response(svg, media_type="image/svg+xml")


routes = [Route("/lineage/{uid}.svg", lineage_svg), Route("/lineage/{uid}", lineage_page)]
