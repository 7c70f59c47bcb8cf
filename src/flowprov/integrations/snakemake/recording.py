"""The one recording of a Snakemake execution, shared by the Snakefile hooks and `--logger flowprov`.

Both entry points feed one per-process session: the execution is opened once (by `onstart:` or, with
the plugin alone, at the first job event), job events (start, end, error of every attempt) are
collected by one listener (`events.py`: the plugin itself, or a logging handler the hooks attach when
the plugin is absent), and the jobs are recorded once, from the workflow object, when the execution
ends (`onsuccess:`/`onerror:`, or the plugin's close). So hooks alone, plugin alone and both together
build the same transform, run and artifact specs (`specs.py`).

Store: a store given to either entry point (`onstart(..., db=URL)` or `--logger-flowprov-db URL`)
wins over FLOWPROV_DB and the defaults; two different stores given to both are an error at start
(reported, nothing recorded; the workflow runs on).

A store that cannot be written (unreachable, read-only, lost halfway) never changes Snakemake's
outcome: the execution's run, its environment and lock files are buffered from the start, the jobs
at the end, and whatever the store did not take is written to one spool file, named in one
`flowprov: error: ...` line on stderr (and in the Snakemake log), for `flowprov spool replay`.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

from flowprov.core.tracking.adapter_kit import (
    INITIATED_BY_ENV,
    ReferenceType,
    enclosing_run,
    environment_paths,
    git_aux,
    redact_argv,
    report_failure,
    store_failures,
)
from flowprov.core.tracking.recorder import FileSpec, Recorder, RunHandle
from flowprov.integrations.snakemake import events
from flowprov.integrations.snakemake.settle import settle_died
from flowprov.integrations.snakemake.specs import (
    conda_env_file,
    conda_used,
    job_aux,
    job_name,
    job_params,
    job_reference,
    log_paths,
    metadata_times,
    paths_of,
    pipeline_spec,
    step_spec,
    workflow_id_from_log,
)

REFERENCE_TYPE = ReferenceType.SNAKEMAKE_WORKFLOW
JOB_REFERENCE_TYPE = ReferenceType.SNAKEMAKE_JOB
_state: dict[str, Any] = {}
_session: dict[str, Any] = {"plugin": False, "plugin_db": None}
NO_FLUSH = 10**12  # the Recorder writes when told: at the start, then once at the end


class ConflictingStores(Exception):
    """The hooks and the logger plugin were given two different stores."""


def _recorder() -> Recorder | None:
    return _state.get("recorder")


def _report(what: str, exc: BaseException, log: Any) -> None:
    """One line on stderr (and in the Snakemake log), the buffer spooled; never raised into Snakemake."""
    spooled = report_failure(what, exc, _recorder() if not isinstance(exc, ConflictingStores) else None)
    where = f"; saved to {spooled} (`flowprov spool replay` writes it)" if spooled else ""
    for path in log_paths(log):
        try:
            with open(path, "a") as fh:
                fh.write(f"flowprov: error: could not record {what}: {type(exc).__name__}{where}\n")
        except OSError:
            pass


def _guarded(stage: str, func: Any, workflow: Any, log: Any) -> None:
    if not getattr(workflow, "is_main_process", True) or _session.get("disabled"):
        return
    try:
        func(workflow, log)
    except ConflictingStores as exc:
        _session["disabled"] = True  # one clear error at start, then nothing is recorded
        _report(f"the Snakemake {stage}", exc, log)
    except Exception as exc:  # recording never breaks the workflow
        _report(f"the Snakemake {stage}", exc, log)


def register_plugin(db: str | None) -> None:
    """The logger plugin is active in this process (called when Snakemake sets it up)."""
    _session.update(plugin=True, plugin_db=db)


def _choose_store(hooks_db: str | None) -> str | None:
    """The store given to either entry point (None: FLOWPROV_DB and the defaults)."""
    plugin_db = _session.get("plugin_db")
    if hooks_db and plugin_db and hooks_db != plugin_db:
        raise ConflictingStores(
            f"two different stores: onstart(db={hooks_db!r}) and --logger-flowprov-db {plugin_db!r}; give one"
        )
    return hooks_db or plugin_db


def onstart(workflow: Any, log: Any, db: str | None = None) -> None:
    """Open the execution's run (call from `onstart:`)."""

    def start(wf: Any, logfile: Any) -> None:
        if not _session["plugin"]:
            events.attach_listener(_recorder)
        _start(wf, logfile, db)

    _guarded("start", start, workflow, log)


def onsuccess(workflow: Any, log: Any, db: str | None = None) -> None:
    """Record the jobs and close the run as completed (call from `onsuccess:`)."""
    _guarded("end", lambda wf, logfile: _finish(wf, logfile, "completed", db), workflow, log)


def onerror(workflow: Any, log: Any, db: str | None = None) -> None:
    """Record the jobs and close the run as errored (call from `onerror:`)."""
    _guarded("end", lambda wf, logfile: _finish(wf, logfile, "errored", db), workflow, log)


# -- the execution --------------------------------------------------------------------------------


def _workflow_id(log: Any) -> tuple[str, str]:
    """Snakemake's Workflow ID (from its log) and where it came from."""
    found = workflow_id_from_log(log)
    if found is not None:
        return found, "snakemake log"
    # Snakemake before 9.27 writes no Workflow ID: use our own, and say so
    made = str(uuid.uuid4())
    print(
        f"flowprov: warning: no 'Workflow ID:' in the Snakemake log; recording this execution as {made}",
        file=sys.stderr,
    )
    return made, "flowprov (this Snakemake wrote no 'Workflow ID:' line)"


def _execution_aux(workflow: Any, git: Any, id_source: str) -> dict[str, Any]:
    aux: dict[str, Any] = {
        "cli_args": redact_argv(list(sys.argv)),
        "workdir": str(Path.cwd()),
        "workflow_id_source": id_source,
    }
    if getattr(workflow, "touch", False):
        aux["touch"] = True
    if git:
        aux["git"] = git_aux(git)
    return aux


def _start(workflow: Any, log: Any, db: str | None = None) -> None:
    if "handle" in _state or _state.get("done") == id(workflow):
        return  # already opened (or recorded) by the other entry point
    store = _choose_store(db)
    _state.clear()  # a new execution in this process (Snakemake's API can run several)
    events.reset()
    workflow_id, id_source = _workflow_id(log)
    spec, git = pipeline_spec(workflow)
    rec = Recorder(store, flush_every=NO_FLUSH)
    handle = rec.open_run(
        spec,
        reference=workflow_id,
        reference_type=REFERENCE_TYPE,
        name=None,
        params=dict(workflow.config or {}),
        status="started",
        aux=_execution_aux(workflow, git, id_source),
    )
    _state.update(recorder=rec, handle=handle, workflow_id=workflow_id, log=log)
    env, lock_files = environment_paths(git.root if git else Path.cwd())
    handle.set_environment(env)
    for path in lock_files:
        handle.add_environment_file(path)
    _write_start(rec, handle)


def _write_start(rec: Recorder, handle: RunHandle) -> None:
    """The execution into the store now, so it is there even if Snakemake dies; a store that
    cannot be written keeps it buffered for the end (written, or spooled, with the jobs)."""
    try:
        _ = rec.store  # connecting: the chosen store becomes the current one, where the parent run is looked up
        parent = enclosing_run()
        if parent is not None:
            handle.parent_run_id, handle.parent_run_uid = parent.id, parent.uid
        settle_died(rec, handle, _state.get("log"), REFERENCE_TYPE)
        rec.flush()
    except store_failures() as exc:
        _state["store_failure"] = exc
        handle.parent_run_uid = handle.parent_run_uid or os.environ.get(INITIATED_BY_ENV)


# -- the jobs ---------------------------------------------------------------------------------


def _attempt_history(job: Any, finished: bool, aux: dict[str, Any]) -> tuple[Any, Any]:
    """Every attempt into aux; the job's start (first attempt) and end (last), None without events."""
    history = events.attempts().get(job.jobid) or []
    if not history:
        return None, None
    if finished and history[-1]["end"] is None:
        # the job's end event was still on its way when the workflow ended: its outputs say when
        history[-1].update(end=_outputs_written(job, history[-1]["start"]), status="completed")
    aux["attempt"] = len(history)
    aux["attempts"] = [
        {"start": _iso(a["start"]), "end": _iso(a["end"]), "status": a["status"], "error": a["error"]} for a in history
    ]
    if history[-1]["error"] and not finished:
        aux["error"] = history[-1]["error"]  # the final attempt's error only
    return history[0]["start"], history[-1]["end"]


def _outputs_written(job: Any, start: dt.datetime) -> dt.datetime:
    """When the job's newest output was written (never before its start)."""
    times = [Path(p).stat().st_mtime for p in job.output if Path(p).exists()]
    written = dt.datetime.fromtimestamp(max(times), dt.UTC) if times else start
    return max(written, start)


def _iso(when: Any) -> str | None:
    return when.isoformat() if when is not None else None


def _existing(paths: Any) -> list[tuple[Path, Path | FileSpec]]:
    """(path, what to record): the file, or a temp file's hash taken while it existed."""
    found: list[tuple[Path, Path | FileSpec]] = []
    for path in paths_of(paths):
        if path.exists():
            found.append((path, path))
        elif (spec := events.temp_file(path)) is not None:
            found.append((path, spec))
    return found


def _remote_times(job: Any, submitted: Any, detected: Any, aux: dict[str, Any]) -> tuple[Any, Any]:
    """A cluster job's start and end. The main process sees only the submission and the moment
    Snakemake's status poll saw the job done (seconds late). The job itself leaves two facts: its
    newest output's modification time (its end, if between the two) and, with `benchmark:`, its
    own running time (its start: that end less the time measured)."""
    written = [path.stat().st_mtime for path in paths_of(job.output) if path.is_file()]
    start, end, said = submitted, detected, ["start: submission to the scheduler", "end: Snakemake's status poll"]
    if written and detected is not None:
        newest = dt.datetime.fromtimestamp(max(written), dt.UTC)
        if submitted <= newest <= detected:
            end, said[1] = newest, "end: the newest output's modification time"
    seconds = (aux.get("benchmark") or {}).get("s")
    if isinstance(seconds, float) and end is not None and submitted <= end - dt.timedelta(seconds=seconds):
        start, said[0] = end - dt.timedelta(seconds=seconds), "start: the end less the job's own benchmark time (s)"
    aux["times"] = "; ".join(said)
    # the cluster-generic executor reports no execution host; a scheduler's accounting has it under the id
    aux["host"] = None
    aux["host_unknown"] = "the executor does not report where the job ran (see external_jobid)"
    return start, end


def _job_times(workflow: Any, job: Any, finished: bool, aux: dict[str, Any]) -> tuple[Any, Any]:
    """The job's start and end, and in aux where they came from (and the host it ran on)."""
    started, ended = _attempt_history(job, finished, aux)
    if started is None:  # no events (a job the listener missed): Snakemake's metadata
        started, ended = metadata_times(workflow, job)
        aux["times"] = "Snakemake's metadata records" if started else "unknown"
        return started, ended
    external = events.external_jobid(workflow, job)
    if external is None:
        aux.update(times="Snakemake's job events in this process", host=socket.gethostname())
        return started, ended
    aux.update(external_jobid=external, submitted_at=_iso(started))
    return _remote_times(job, started, ended, aux)


def _record_job(workflow: Any, job: Any, finished: bool, ctx: dict[str, Any]) -> None:
    rec, wf = ctx["recorder"], ctx["handle"]
    status = "completed" if finished else "errored"
    aux = job_aux(workflow, job)
    started, ended = _job_times(workflow, job, finished, aux)
    if started is not None and ended is not None and ended < started:  # never an end before a start
        aux["times"] += f"; an end before the start ({_iso(ended)}) was not stored"
        ended = None
    handle = rec.open_run(
        step_spec(job, wf.transform, ctx["specs"]),
        reference=job_reference(ctx["workflow_id"], job.jobid),
        reference_type=JOB_REFERENCE_TYPE,
        name=job_name(job),
        parent=wf,
        params=job_params(job),
        started_at=started,
        status=status,
        aux=aux,
    )
    conda_file = conda_env_file(job)
    if conda_file is not None and conda_used(workflow):
        handle.set_environment(conda_file)  # the job ran in the rule's conda env
    for path, item in _existing(job.input):
        handle.add_input(item)
        ctx["read"].append(path)
    for path, item in _existing(job.output) + _existing(job.log) + _existing(job.benchmark):
        handle.add_output(item)
        ctx["produced"].add(str(path.resolve()))
    if started is None:
        handle.opened_at = None  # the hooks run after the job: now is not its start
        handle.aux["started_at_unknown"] = "Snakemake keeps no metadata record with a start for this job"
    rec.close_run(handle, status, finished_at=ended, unknown_end="Snakemake keeps no end time for this job")


def jobs_that_ran(workflow: Any) -> tuple[list[tuple[Any, bool]], int, int]:
    """(job, finished) for every job that ran, checkpoint predecessors included; not run; failed."""
    dag = workflow.dag
    failed = set(getattr(getattr(workflow, "scheduler", None), "failed", set()) or set())
    history = events.attempts()
    candidates = {id(j): j for j in list(dag.jobs) + list(getattr(dag, "_finished", ()) or ())}.values()
    ran: list[tuple[Any, bool]] = []
    not_run = 0
    for job in sorted(candidates, key=lambda j: j.jobid):
        finished = dag.finished(job)
        attempts = history.get(job.jobid) or []
        if attempts and attempts[-1]["status"] == "errored":
            finished = False
        if finished or job in failed or job.jobid in history:
            ran.append((job, finished))
        elif dag.needrun(job):
            not_run += 1
    return ran, not_run, len(failed)


def _external_inputs(read: list[Path], produced: set[str]) -> list[Path]:
    """Files read that no job of this execution wrote (nor lie in a directory a job wrote)."""
    unique = {str(p.resolve()): p for p in read}
    return [
        p
        for key, p in unique.items()
        if key not in produced and not any(str(parent) in produced for parent in Path(key).parents)
    ]


def _record_jobs(workflow: Any, log: Any, status: str) -> None:
    ctx = {**_state, "specs": {}, "read": [], "produced": set()}
    wf = ctx["handle"]
    ran, not_run, failed = jobs_that_ran(workflow)
    for job, finished in ran:
        _record_job(workflow, job, finished, ctx)
    for path in _external_inputs(ctx["read"], ctx["produced"]):
        wf.add_input(path)
    wf.update_aux({"jobs": {"recorded": len(ran), "not_run": not_run, "failed": failed}})
    logs = log_paths(log)
    if logs and logs[0].exists():
        wf.set_report(logs[0])
    ctx["recorder"].close_run(wf, status)


def _finish(workflow: Any, log: Any, status: str, db: str | None = None) -> None:
    if _state.get("done") == id(workflow):
        return  # already recorded by the other entry point
    if "handle" not in _state:  # onstart did not run (or failed): start now, late but complete
        _start(workflow, log, db)
    rec: Recorder = _state["recorder"]
    what = f"the Snakemake execution {_state['workflow_id']}"
    try:
        _record_jobs(workflow, log, status)
        if _state.get("store_failure") is not None:
            rec.retries = 0  # it failed at the start, after its retries: one more try, no more waiting
        rec.flush()
    except Exception as exc:  # the store, or a fault of ours: one line, and the buffer spooled
        _report(what, exc, log)
    finally:
        _state.clear()
        _state["done"] = id(workflow)


# -- the logger plugin (snakemake --logger flowprov) -------------------------------------------


class EventRecorder:
    """The plugin's side: job events into the shared history; the execution opened at the first
    job (an up-to-date workflow records nothing) and recorded at close() unless the hooks did."""

    def __init__(self, db: str | None = None, dry_run: bool = False):
        self.dry_run = dry_run
        self.failed = False
        self.errored = False
        self.log: Any = None
        register_plugin(db)

    def handle(self, record: Any) -> None:
        if self.dry_run or self.failed or _session.get("disabled"):
            return
        event = str(getattr(record, "event", "") or "").lower()
        try:
            if event.endswith("job_info") and "handle" not in _state:
                workflow = events.current_workflow()
                self.log = workflow.logger_manager.get_logfile()
                _start(workflow, self.log)  # before the event: a new execution starts a fresh history
            events.note_event(record, _recorder())
            if event.endswith("job_error"):
                self.errored = True
        except ConflictingStores as exc:
            _session["disabled"] = True
            _report("the Snakemake start (logger plugin)", exc, None)
        except Exception as exc:  # reported once; Snakemake carries on untouched
            self.failed = True
            _report(f"the Snakemake event {event!r} (logger plugin)", exc, None)

    def close(self) -> None:
        if self.dry_run or self.failed or "handle" not in _state:
            return  # nothing opened, or the hooks recorded (and cleared) the execution
        try:
            workflow = events.current_workflow()
            ran, _not_run, _failed = jobs_that_ran(workflow)
            status = "errored" if self.errored and any(not done for _, done in ran) else "completed"
            _finish(workflow, self.log, status)
        except Exception as exc:
            _report("the Snakemake end (logger plugin)", exc, None)
