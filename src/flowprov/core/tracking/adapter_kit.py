"""The adapter kit: what every adapter needs besides the Recorder, in one public place.

An adapter (Snakemake hooks and logger plugin, Prefect `@tracked`, Nextflow ingest, wrapper and
weblog receiver, and `track()` itself) translates its manager's events and files into calls on
this module and on `Recorder`; it never imports the registry, the store or private helpers of
`core/tracking`. The kit gives:

- `ReferenceType`: the reference vocabulary of `docs/design.md` (one table, no string literals);
- `relative_key`: a source file's transform key (relative to the git root, else the working dir);
- `git_facts` / `git_aux`: the git facts of a source file and the `aux["git"]` dict made of them;
- `enclosing_run` / `parent_run`: the run a new execution is a child of (a tracked script in this
  process, else `FLOWPROV_INITIATED_BY_RUN`);
- `environment_paths`: the environment listing (beside an SQLite store, else in the per-user
  cache; written once per environment) and the lock files at the project root, cached per process;
  `environments_dir`: where a manager's own environment files are written;
- `redact_argv`: a command line with its secrets replaced;
- `content_hash`: a file's flowprov hash (through the hash cache), for a file named in aux;
- `storable_param`: a parameter value as a run stores it (JSON-able, secrets redacted);
- `current_target` / `target_resolvers`: where `track_input()`/`track_output()` inside a
  manager's task record to (an adapter sets the target, or registers a resolver that finds it);
- `report_failure` / `store_failures`: the one-line report of a store that could not be written,
  spooling the Recorder's buffer.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowprov.core.gitinfo import GitInfo, git_info
from flowprov.core.redaction import redact_argv
from flowprov.core.tracking.offline import report_failure, store_failures
from flowprov.core.tracking.targets import current_target, target_resolvers

if TYPE_CHECKING:
    from flowprov.core.registry import Run

INITIATED_BY_ENV = "FLOWPROV_INITIATED_BY_RUN"

__all__ = [
    "INITIATED_BY_ENV",
    "ReferenceType",
    "content_hash",
    "current_target",
    "enclosing_run",
    "environment_paths",
    "environments_dir",
    "git_aux",
    "git_facts",
    "parent_run",
    "redact_argv",
    "relative_key",
    "storable_param",
    "report_failure",
    "store_failures",
    "target_resolvers",
]


class ReferenceType:
    """`Run.reference_type` values, one per kind of external run (see docs/design.md)."""

    NEXTFLOW_SESSION = "nextflow_session_id"
    NEXTFLOW_TASK = "nextflow_task_hash"
    NEXTFLOW_TRACE = "nextflow_trace"
    SNAKEMAKE_WORKFLOW = "snakemake_workflow_id"
    SNAKEMAKE_JOB = "snakemake_job_id"
    PREFECT_FLOW_RUN = "prefect_flow_run_id"
    PREFECT_TASK_RUN = "prefect_task_run_id"


def relative_key(path: Path, git_root: Path | None) -> str:
    """A transform key for a source file: relative to the git root, else to the working directory."""
    for base in (git_root, Path.cwd().resolve()):
        if base is not None and path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.as_posix()


git_facts = git_info  # the git facts of a source file (core/gitinfo.py), under the adapter kit's name


def git_aux(git: GitInfo) -> dict[str, Any]:
    """The `aux["git"]` value every adapter records."""
    return {"commit": git.commit, "remote": git.remote, "dirty": git.dirty}


def storable_param(key: str, value: Any) -> Any:
    """A parameter value as a run stores it: JSON-able, redacted when its key or content is a
    secret (`ValidationError` when it cannot be stored)."""
    from flowprov.core.registry.params import normalize_param, secret_key_pattern

    return normalize_param(value, key, secret_key_pattern())


def parent_run(initiated_by_run: Run | int | str | None = None) -> Run | None:
    """The run given, else the one named by FLOWPROV_INITIATED_BY_RUN (a warning if it is unknown)."""
    from flowprov.core.exceptions import DoesNotExist
    from flowprov.core.registry import Run

    if initiated_by_run is not None:
        return initiated_by_run if isinstance(initiated_by_run, Run) else Run.get(initiated_by_run)
    uid = os.environ.get(INITIATED_BY_ENV)
    if not uid:
        return None
    try:
        return Run.get(uid)
    except DoesNotExist:
        print(
            f"flowprov: warning: {INITIATED_BY_ENV}={uid} names no run in this store; recording without a parent",
            file=sys.stderr,
        )
        return None


def enclosing_run() -> Run | None:
    """The run a workflow started here belongs to: this process's tracked run, else the env's."""
    from flowprov.core.tracking.context import current_run

    return current_run() or parent_run(None)


@functools.lru_cache(maxsize=8)
def environment_paths(project_root: Path | None, store_url: str | None = None) -> tuple[Path, tuple[Path, ...]]:
    """The environment listing file (beside an SQLite store named by `store_url`, else in the
    per-user cache) and the lock files at `project_root`."""
    from flowprov.core.tracking.environment import environment_file, lock_files

    return environment_file(store_url), tuple(lock_files(project_root) if project_root else ())


def environments_dir() -> Path:
    """The directory environment files are written to (a manager's own listings go beneath)."""
    from flowprov.core.tracking.environment import cache_dir

    return cache_dir()


def content_hash(path: Path) -> str:
    """A file's content hash as artifacts store it (through the stat-keyed hash cache)."""
    from flowprov.core.hashing import hash_path

    return hash_path(path).hash
