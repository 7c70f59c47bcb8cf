"""The interop tests' data: one store of each kind filled once per session by the real adapters
(tests/recorded_stores.py says what is in it), named by the top run of each adapter.
"""

from __future__ import annotations

import pytest

ADAPTERS = ("script", "snakemake", "prefect", "nextflow", "nextflow_workdir")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def recorded(request, recorded_stores):
    """(store URL, {adapter: top run uid}) with one real run of every adapter."""
    stores = recorded_stores.get(request.param)
    return stores.url, stores.top_runs
