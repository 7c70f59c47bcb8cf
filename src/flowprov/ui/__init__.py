"""`flowprov ui`: a local, read-only web UI over a store (the `ui` extra: Starlette, uvicorn, Jinja2).

`create_app(url)` opens the store read-only and returns a Starlette app; `serve()` runs it with
uvicorn. Nothing here is imported by `import flowprov`.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("create_app", "serve"):
        from flowprov.ui import app

        return getattr(app, name)
    raise AttributeError(name)


__all__ = ["create_app", "serve"]
