"""`make demo`: record a pipeline run on the embedded SQLite default and print it back.

Uses the normal store lookup (FLOWPROV_DB, else the nearest `.flowprov/`, else the per-user
default), so what it records stays there for `flowprov runs` / `flowprov show` afterwards.
"""

from __future__ import annotations

import flowprov as ln
from flowprov.core.store.connection import current_store_source


def record_pipeline_run() -> ln.Run:
    """The lamindb Run-page example, plus a reference to the workflow manager's own run id."""
    transform = ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()
    run = ln.Run(
        transform,
        reference="5477e033-04ee-44f1-81c9-a72a7f1508c2",
        reference_type="nextflow_session_id",
        name="loving_blackwell",
        params={"genome": "GRCh38", "expect_cells": 3000},
    )
    run.status = "completed"
    return run.save()


def main() -> None:
    store = ln.connect()
    print(f"store: {store.display_url} (from {current_store_source()})")
    run = record_pipeline_run()
    again = ln.Run.get(run.uid)
    print("\nrecorded:")
    print(" ", again.transform)
    print(" ", again)
    print(f"  params: {again.params.get_values()}")
    print(f"\nruns of this transform so far: {ln.Run.filter(transform=again.transform).count()}")
    print(ln.Run.filter(reference_type="nextflow_session_id").df(include="transform__name", limit=5).to_string())


if __name__ == "__main__":
    main()
