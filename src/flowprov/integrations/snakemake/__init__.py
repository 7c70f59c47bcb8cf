"""Snakemake: record every execution of a Snakefile, with three hook lines or `--logger flowprov`.

    from flowprov.integrations import snakemake as flowprov_snakemake

    onstart:   flowprov_snakemake.onstart(workflow, log)
    onsuccess: flowprov_snakemake.onsuccess(workflow, log)
    onerror:   flowprov_snakemake.onerror(workflow, log)

This module is the cheap part: Snakemake parses the Snakefile again in every job process, and
there this import must cost nothing. The recording (`recording.py`, shared by the hooks and the
logger plugin) is imported only when a hook fires in the main Snakemake process.
"""

from __future__ import annotations

from typing import Any


def _recording() -> Any:
    import importlib

    return importlib.import_module("flowprov.integrations.snakemake.recording")


def _call(name: str, workflow: Any, log: Any, db: str | None) -> None:
    if not getattr(workflow, "is_main_process", True):
        return  # a job process: nothing to record here
    getattr(_recording(), name)(workflow, log, db=db)


def onstart(workflow: Any, log: Any, db: str | None = None) -> None:
    """Open the execution's run (call from `onstart:`); `db` picks the store (see README)."""
    _call("onstart", workflow, log, db)


def onsuccess(workflow: Any, log: Any, db: str | None = None) -> None:
    """Record the jobs and close the run as completed (call from `onsuccess:`)."""
    _call("onsuccess", workflow, log, db)


def onerror(workflow: Any, log: Any, db: str | None = None) -> None:
    """Record the jobs and close the run as errored (call from `onerror:`)."""
    _call("onerror", workflow, log, db)


def __getattr__(name: str) -> Any:
    """The rest of the API (EventRecorder, pipeline_spec, REFERENCE_TYPE, ...) loads on first use:
    importing `flowprov.core.tracking` here would load the store layer in every job process."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_recording(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
