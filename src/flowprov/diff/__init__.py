"""`flowprov.diff(a, b=None)`: what changed between two runs, and why each changed output changed.

    import flowprov as ln
    d = ln.diff("loving_blackwell", "sad_turing")   # run uids, references, run names, artifacts or paths
    d.changed, d.to_dict(), print(d), d.markdown()

Layers, in order: transform (with a unified diff of the source), params, environment (packages,
lock files), inputs and outputs, step runs (matched by step transform and name, each pair
compared), run facts (and Nextflow task metrics as ratios). See result.py for the JSON schema.

The module is callable, so `flowprov.diff(a, b)` works whether or not `flowprov.diff` was imported
as a package first.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from flowprov.diff.files import DEFAULT_MAX_TEXT_BYTES
from flowprov.diff.result import SCHEMA_VERSION, RunDiff

DEFAULT_METRICS_THRESHOLD = 1.5


def diff(
    a: Any,
    b: Any = None,
    *,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
    metrics_threshold: float = DEFAULT_METRICS_THRESHOLD,
) -> RunDiff:
    """Compare run A with run B (default: the run before A of the same transform family).

    A and B are Runs, Artifacts, run or artifact uids (or prefixes), references (a Nextflow session,
    a Snakemake workflow id, a Prefect flow run id), run names or paths of registered files; an
    artifact stands for the workflow run that produced it.
    """
    from flowprov.diff.compare import compare
    from flowprov.diff.resolve import previous_run, resolve_run

    if max_text_bytes < 0:
        raise ValueError(f"max_text_bytes must be >= 0, not {max_text_bytes}")
    if metrics_threshold <= 1:
        raise ValueError(f"metrics_threshold must be > 1 (a ratio such as 1.5), not {metrics_threshold}")
    run_a = resolve_run(a)
    run_b = resolve_run(b) if b is not None else None
    if run_b is None:  # one argument: A is the newer run, compared with the one before it
        run_a, run_b = previous_run(run_a), run_a
    return compare(run_a, run_b, max_text_bytes=max_text_bytes, metrics_threshold=metrics_threshold)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> RunDiff:
        return diff(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["DEFAULT_MAX_TEXT_BYTES", "DEFAULT_METRICS_THRESHOLD", "SCHEMA_VERSION", "RunDiff", "diff"]
