"""Discovery: which files belong to a Nextflow launch (trace, history, log, report, params,
work dir, cache index, lineage store, nf-core software versions)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from flowprov.core.exceptions import FlowprovError
from flowprov.integrations.nextflow.lineage_store import LineageStore
from flowprov.integrations.nextflow.software_versions import find_versions_file
from flowprov.integrations.nextflow.workdir import read_cache_index

TRACE_PATTERNS = (
    "trace.txt",
    "trace.txt.[0-9]",
    "*trace*.txt",
    "*trace*.csv",
    "*trace*.tsv",
    "pipeline_info/execution_trace*.txt",
    "results/pipeline_info/execution_trace*.txt",
    "*/pipeline_info/execution_trace*.txt",
)


class IngestError(FlowprovError, ValueError):
    """A launch that cannot be ingested (no trace found, unreadable metadata, ...)."""


@dataclass
class LaunchFiles:
    traces: list[Path]
    history: Path | None = None
    log: Path | None = None
    report: Path | None = None
    params_file: Path | None = None
    report_found: bool = False  # found by looking around, not given: check it matches the trace
    work_dir: Path | None = None
    outdir: Path | None = None
    launch_dir: Path | None = None
    versions_file: Path | None = None  # nf-core's software versions: the environment of each process

    def without_report(self) -> LaunchFiles:
        return replace(self, report=None, report_found=False)


def _trace_candidates(directory: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in TRACE_PATTERNS:
        for p in sorted(directory.glob(pattern)):
            if p.is_file() and p not in found:
                found.append(p)
    return found


def _first_file(candidates: list[Path]) -> Path | None:
    return next((c for c in candidates if c.is_file()), None)


def _traces_at(target: Path) -> tuple[list[Path], Path]:
    """The trace files at `target` and the launch directory they belong to."""
    if not target.exists():
        raise IngestError(f"{target}: no such file or directory")
    if not target.is_dir():
        return [target], target.parent
    traces = _trace_candidates(target)
    if not traces:
        raise IngestError(
            f"{target}: no trace file here (looked for trace.txt, *trace*.txt, "
            "pipeline_info/execution_trace*.txt); run Nextflow with -with-trace"
        )
    return traces, target


def find_launch_files(
    target: Path,
    history: Path | None = None,
    log: Path | None = None,
    report: Path | None = None,
    params_file: Path | None = None,
) -> LaunchFiles:
    traces, launch_dir = _traces_at(Path(target))
    trace_dir = traces[0].parent
    search = [launch_dir, trace_dir, *list(trace_dir.parents)[:3]]
    report_found = report is None
    history = history or _first_file([d / ".nextflow" / "history" for d in search])
    log = log or _first_file([d / ".nextflow.log" for d in search])
    if report is None:
        reports = sorted(trace_dir.glob("execution_report*.html")) + sorted(trace_dir.glob("*report*.html"))
        report = reports[0] if reports else None
    if params_file is None:
        params = sorted(trace_dir.glob("params_*.json"))
        params_file = params[-1] if params else None
    return LaunchFiles(
        traces,
        history,
        log,
        report,
        params_file,
        report_found=report_found and report is not None,
        launch_dir=launch_dir,
        versions_file=find_versions_file(trace_dir, launch_dir),
    )


def default_work_dir(target: Path) -> Path | None:
    candidate = (target if target.is_dir() else target.parent) / "work"
    return candidate if candidate.is_dir() else None


def load_cache_index(files: LaunchFiles, session_id: str | None, run_name: str | None) -> dict[str, tuple[str, bool]]:
    """The binary cache index of this launch, when it is beside the trace (short -> full hash)."""
    if not files.launch_dir or not session_id or not run_name:
        return {}
    path = files.launch_dir / ".nextflow" / "cache" / session_id / f"index.{run_name}"
    if not path.is_file():
        return {}
    try:
        return read_cache_index(path)
    except ValueError as exc:
        raise IngestError(str(exc)) from None


def open_lineage_store(files: LaunchFiles) -> LineageStore | None:
    if files.launch_dir is None:
        return None
    root = files.launch_dir / ".lineage"
    return LineageStore(root) if root.is_dir() else None
