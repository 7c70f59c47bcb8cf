"""Jinja2 templates (autoescaped: every value is text, never markup) and the error pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from flowprov.core.exceptions import DoesNotExist, FieldError, FlowprovError, MultipleResultsFound

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATUS_CLASSES = {"completed": "ok", "errored": "bad", "aborted": "warn", "started": "busy", "restarted": "busy"}


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def json_block(data: Any) -> str:
    """JSON that is safe inside <script type="application/json"> (no `</script>` can end it)."""
    text = json.dumps(data, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


templates.env.filters["size"] = human_size
templates.env.filters["json_block"] = json_block
templates.env.filters["short_time"] = lambda iso: (iso or "")[:19].replace("T", " ")
templates.env.globals["status_class"] = lambda status: STATUS_CLASSES.get(status or "", "")


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _error(request: Request, status_code: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status_code)
    return page(request, "error.html", status_code=status_code, message=message, title=f"Error {status_code}")


def exception_handlers() -> dict[Any, Any]:
    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(request, 404, str(exc))

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(request, 400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(request, exc.status_code, str(exc.detail))

    return {
        DoesNotExist: not_found,
        MultipleResultsFound: bad_request,
        FieldError: bad_request,
        FlowprovError: bad_request,
        ValueError: bad_request,
        HTTPException: http_error,
    }
