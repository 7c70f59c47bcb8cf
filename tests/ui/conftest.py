"""The UI tests' data: one store of each kind filled once per session by the real adapters
(tests/recorded_stores.py says what is in it)."""

from __future__ import annotations

import socket

import pytest

from tests.recorded_stores import XSS, Recorded

__all__ = ["XSS", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def recorded(request, recorded_stores) -> Recorded:
    """The recorded store of each kind (built once per session; module scope for the UI server)."""
    return recorded_stores.get(request.param)
