"""The Starlette app: read-only store, GET-only routes, package-only static files, strict headers."""

from __future__ import annotations

import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowprov.core.store.connection import Store
from flowprov.ui import templating
from flowprov.ui.routes import api, artifacts, diff, lineage, runs, transforms
from flowprov.ui.store import open_read_only

STATIC = Path(__file__).parent / "static"
READ_METHODS = {"GET", "HEAD"}
# scripts and styles only from this server (the page's data travels in JSON blocks, never inline code)
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class ReadOnlyMiddleware:
    """Refuse every method but GET/HEAD (405) and add the security headers to each response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in READ_METHODS:
            response = PlainTextResponse("flowprov ui is read-only", status_code=405, headers={"Allow": "GET, HEAD"})
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(store: Store | str | None = None) -> Starlette:
    """The UI for `store` (a Store, or a URL/path/name opened read-only; None: the usual lookup)."""
    store = store if isinstance(store, Store) else open_read_only(store)
    routes = [
        *runs.routes,
        *artifacts.routes,
        *transforms.routes,
        *lineage.routes,
        *diff.routes,
        Mount("/api", routes=api.routes),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ReadOnlyMiddleware)],
        exception_handlers=templating.exception_handlers(),
    )
    app.state.store = store
    return app


def serve(url: str | None = None, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False) -> None:
    """Run the UI with uvicorn until interrupted."""
    import uvicorn

    app = create_app(url)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"flowprov ui: warning: listening on {host}: there is no authentication, anyone who can reach "
            "this address can read the whole store",
            file=sys.stderr,
        )
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"flowprov ui: {app.state.store.display_url} (read-only) at {address}", file=sys.stderr, flush=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(address,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def current_store(request: Request) -> Store:
    return request.app.state.store
