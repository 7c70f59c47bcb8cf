"""`flowprov nextflow run`: run `nextflow run` as a subprocess, record it live, then ingest what it wrote.

The wrapper adds `-with-trace` and `-with-report` (unless given) and a `-name` when none is given,
so it knows exactly which files and which launch to ingest. It also starts a weblog receiver on a
free localhost port and adds `-with-weblog http://127.0.0.1:PORT/` (unless a weblog URL is given),
so the launch and its tasks are recorded while they run; the trace ingest at the end merges into
those same records and fills what the messages did not carry. Nextflow's output streams through
unchanged and the wrapper exits with Nextflow's exit code; if ingesting fails, the error is
printed with the command that retries it, and the exit code is still Nextflow's.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

RUN_OPTIONS_WITH_VALUE = {"-name", "-with-trace", "-with-report", "-with-weblog"}


def _has_option(args: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in args)


def _option_value(args: list[str], option: str) -> str | None:
    for i, a in enumerate(args):
        if a.startswith(option + "="):
            return a.split("=", 1)[1]
        if a == option and i + 1 < len(args) and not args[i + 1].startswith("-"):
            return args[i + 1]
    return None


def new_run_name() -> str:
    """A valid Nextflow run name (lower-case letters, digits, '_')."""
    return "flowprov_" + secrets.token_hex(4)


def build_command(
    nextflow: str, pipeline: str, args: list[str], workdir: Path, weblog_url: str | None = None
) -> tuple[list[str], str, Path, Path]:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = _option_value(args, "-name") or new_run_name()
    extra: list[str] = []
    if not _has_option(args, "-name"):
        extra += ["-name", name]
    trace = _option_value(args, "-with-trace")
    if not _has_option(args, "-with-trace") or trace is None:
        trace = str(workdir / f"trace-{name}-{stamp}.txt")
        args = [a for a in args if a != "-with-trace"]
        extra += ["-with-trace", trace]
    report = _option_value(args, "-with-report")
    if not _has_option(args, "-with-report") or report is None:
        report = str(workdir / f"report-{name}-{stamp}.html")
        args = [a for a in args if a != "-with-report"]
        extra += ["-with-report", report]
    if weblog_url is not None and not _has_option(args, "-with-weblog"):
        extra += ["-with-weblog", weblog_url]
    return [nextflow, "run", pipeline, *extra, *args], name, Path(trace), Path(report)


def run_nextflow(
    pipeline: str,
    args: list[str],
    *,
    store: Any = None,
    workdir: Path | None = None,
    store_error: BaseException | None = None,
) -> int:
    """Run Nextflow, ingest its trace, return Nextflow's exit code.

    `store_error`: why the store could not be opened; the launch is then read from its files at
    the end and spooled (one line), and Nextflow's exit code is still the wrapper's."""
    nextflow = shutil.which("nextflow")
    if nextflow is None:
        print(
            "flowprov: error: `nextflow` is not on PATH; install Nextflow or activate the environment that has it",
            file=sys.stderr,
        )
        return 127
    workdir = workdir or Path.cwd()
    receiver = _start_receiver(store) if not _has_option(args, "-with-weblog") else None
    command, name, trace, report = build_command(
        nextflow, pipeline, args, workdir, receiver.url if receiver is not None else None
    )
    print(f"flowprov: running {' '.join(shlex.quote(c) for c in command)}", file=sys.stderr, flush=True)
    try:
        code = subprocess.call(command, cwd=workdir)
    except KeyboardInterrupt:
        code = 130
    live_buffer = _stop_receiver(receiver) if receiver is not None else None
    if not trace.exists():
        print(f"flowprov: error: Nextflow wrote no trace at {trace}; nothing recorded for run {name}", file=sys.stderr)
        return code
    _ingest_after(trace, report, name, workdir, code, (store, store_error, live_buffer))
    return code


def _ingest_after(
    trace: Path, report: Path, name: str, workdir: Path, code: int, writing: tuple[Any, BaseException | None, Any]
) -> None:
    """Ingest what Nextflow wrote; a failure is one line on stderr (a store failure: spooled,
    together with what the receiver could not write live: one file, one line)."""
    from flowprov.integrations.nextflow.ingest import ingest, print_summary

    store, store_error, live_buffer = writing
    history = workdir / ".nextflow" / "history"
    log = workdir / ".nextflow.log"
    try:
        results = ingest(
            trace,
            run_name=name,
            report=report if report.exists() else None,
            history=history if history.exists() else None,
            log=log if log.exists() else None,
            store=store,
            store_error=store_error if store is None else None,
            recorder=live_buffer,
        )
    except Exception as exc:  # recording must not change Nextflow's exit code; say it loudly instead
        print(
            f"flowprov: error: Nextflow finished (exit {code}) but ingesting its trace failed: {exc}; "
            f"retry with: ingest-nextflow-trace {shlex.quote(str(trace))} --run-name {name}",
            file=sys.stderr,
        )
        return
    if not any(r.spooled for r in results):  # a spooled launch has said so in its one line
        print_summary(results, stream=sys.stderr)


def _start_receiver(store: Any) -> Any:
    """A weblog receiver on a free localhost port, or None (said on stderr) when it cannot start."""
    if store is None:
        return None
    from flowprov.integrations.nextflow.receiver import WeblogReceiver

    try:
        # quiet: a store that cannot be written is reported once, by the ingest at the end
        return WeblogReceiver(store, "127.0.0.1", 0, log_stream=io.StringIO()).start()
    except Exception as exc:  # the workflow still runs; the trace ingest at the end records it
        print(
            f"flowprov: warning: cannot start the weblog receiver ({exc}); recording from files only", file=sys.stderr
        )
        return None


def _stop_receiver(receiver: Any) -> Any:
    """Stop the receiver; its Recorder when some messages could not be written (the trace ingest
    then records into that buffer, so one spool file holds both), else None."""
    try:
        receiver.stop(spool=False)
    except Exception as exc:  # what was not written live, the trace ingest still writes
        print(f"flowprov: warning: live recording stopped with an error: {exc}", file=sys.stderr)
        return None
    return receiver.live.rec if receiver.errors else None
