"""The one recording of a Snakemake execution, shared by the Snakefile hooks and `--logger flowprov`.

Both entry points feed one per-process session: the execution is opened once (by `onstart:` or, with
the plugin alone, at the first job event), job events (start, end, error of every attempt) are
collected by one listener (the plugin itself, or a logging handler the hooks attach when the plugin
is absent), and the jobs are recorded once, from the workflow object, when the execution ends
(`onsuccess:`/`onerror:`, or the plugin's close). So hooks alone, plugin alone and both together
build the same transform, run and artifact specs from this module.

Store: a store given to either entry point (`onstart(..., db=URL)` or `--logger-flowprov-db URL`)
wins over FLOWPROV_DB and the defaults; two different stores given to both are an error at start
(reported, nothing recorded; the workflow runs on).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from flowprov.core.tracking.adapter_kit import ReferenceType

_WORKFLOW_ID = re.compile(r"Workflow ID: ([0-9a-f-]{36})")
REFERENCE_TYPE = ReferenceType.SNAKEMAKE_WORKFLOW
JOB_REFERENCE_TYPE = ReferenceType.SNAKEMAKE_JOB
_state: dict[str, Any] = {}
_session: dict[str, Any] = {"plugin": False, "plugin_db": None}


def _log_paths(log: Any) -> list[Path]:
    """`log` is a list of paths in Snakemake 9, a single path in 7."""
    if log is None:
        return []
    items = [log] if isinstance(log, (str, os.PathLike)) else list(log)
    return [Path(p) for p in items if p]


def workflow_id_from_log(log: Any) -> str | None:
    for path in _log_paths(log):
        try:
            with open(path, errors="replace") as fh:
                for _, line in zip(range(50), fh, strict=False):
                    if m := _WORKFLOW_ID.search(line):
                        return m.group(1)
        except OSError:
            continue
    return None


def _report_failure(stage: str, exc: BaseException, log: Any) -> None:
    """Loudly, on stderr and in the Snakemake log; never raised into Snakemake."""
    text = f"flowprov: error: recording the Snakemake {stage} failed: {type(exc).__name__}: {exc}\n"
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-4:])
    print(text + detail, file=sys.stderr, end="")
    for path in _log_paths(log):
        try:
            with open(path, "a") as fh:
                fh.write(text)
        except OSError:
            pass


class ConflictingStores(Exception):
    """The hooks and the logger plugin were given two different stores."""


def _guarded(stage: str, func: Any, workflow: Any, log: Any) -> None:
    if not getattr(workflow, "is_main_process", True) or _session.get("disabled"):
        return
    try:
        func(workflow, log)
    except ConflictingStores as exc:
        _session["disabled"] = True  # one clear error at start, then nothing is recorded
        _report_failure(stage, exc, log)
    except Exception as exc:  # recording never breaks the workflow
        _report_failure(stage, exc, log)


def register_plugin(db: str | None) -> None:
    """The logger plugin is active in this process (called when Snakemake sets it up)."""
    _session.update(plugin=True, plugin_db=db)


def _choose_store(hooks_db: str | None) -> Any:
    from flowprov.core.store.connection import connect, current_store

    plugin_db = _session.get("plugin_db")
    if hooks_db and plugin_db and hooks_db != plugin_db:
        raise ConflictingStores(
            f"two different stores: onstart(db={hooks_db!r}) and --logger-flowprov-db {plugin_db!r}; give one"
        )
    db = hooks_db or plugin_db
    return connect(db) if db else current_store()


def onstart(workflow: Any, log: Any, db: str | None = None) -> None:
    """Open the execution's run (call from `onstart:`)."""

    def start(wf: Any, logfile: Any) -> None:
        if not _session["plugin"]:
            _attach_listener()
        _start(wf, logfile, db)

    _guarded("start", start, workflow, log)


def onsuccess(workflow: Any, log: Any, db: str | None = None) -> None:
    """Record the jobs and close the run as completed (call from `onsuccess:`)."""
    _guarded("end", lambda wf, logfile: _finish(wf, logfile, "completed", db), workflow, log)


def onerror(workflow: Any, log: Any, db: str | None = None) -> None:
    """Record the jobs and close the run as errored (call from `onerror:`)."""
    _guarded("end", lambda wf, logfile: _finish(wf, logfile, "errored", db), workflow, log)


# -- the execution --------------------------------------------------------------------------------


def _source_files(workflow: Any) -> list[Path]:
    files = []
    for source in workflow.included:
        path = source.get_path_or_uri(secret_free=True) if hasattr(source, "get_path_or_uri") else str(source)
        if path and "://" not in path and Path(path).is_file():
            files.append(Path(path))
    main = Path(str(workflow.main_snakefile))
    if main not in files:
        files.insert(0, main)
    return files


def pipeline_spec(workflow: Any) -> tuple[Any, Any]:
    from flowprov.core.tracking.adapter_kit import git_facts, relative_key
    from flowprov.core.tracking.recorder import TransformSpec

    files = _source_files(workflow)
    main = files[0].resolve()
    git = git_facts(main)
    key = relative_key(main, git.root if git else None)
    parts = []
    for f in files:
        try:
            parts.append(f"# ---- {f.name}\n{f.read_text(errors='replace')}")
        except OSError:
            continue
    version = git.commit if git and git.commit and git.dirty is False else None
    return TransformSpec(key=key, name=key, type="pipeline", source_code="\n".join(parts), version=version), git


def _parent_run_id() -> int | None:
    from flowprov.core.tracking.adapter_kit import enclosing_run

    run = enclosing_run()
    return run.id if run is not None else None


def _start(workflow: Any, log: Any, db: str | None = None) -> None:
    from flowprov.core.tracking.adapter_kit import git_aux, redact_argv
    from flowprov.core.tracking.context import environment_artifact
    from flowprov.core.tracking.recorder import Recorder

    if "handle" in _state or _state.get("done") == id(workflow):
        return  # already opened (or recorded) by the other entry point
    store = _choose_store(db)
    _state.clear()  # a new execution in this process (Snakemake's API can run several)
    _attempts.clear()

    workflow_id = workflow_id_from_log(log)
    id_source = "snakemake log"
    if workflow_id is None:
        # Snakemake before 9.27 writes no Workflow ID: use our own, and say so
        import uuid

        workflow_id, id_source = str(uuid.uuid4()), "flowprov (this Snakemake wrote no 'Workflow ID:' line)"
        print(
            f"flowprov: warning: no 'Workflow ID:' in the Snakemake log; recording this execution as {workflow_id}",
            file=sys.stderr,
        )
    spec, git = pipeline_spec(workflow)
    rec = Recorder(store)
    env, locks = environment_artifact(git.root if git else Path.cwd())
    aux: dict[str, Any] = {
        "cli_args": redact_argv(list(sys.argv)),
        "workdir": str(Path.cwd()),
        "workflow_id_source": id_source,
    }
    if getattr(workflow, "touch", False):
        aux["touch"] = True
    if git:
        aux["git"] = git_aux(git)
    if locks:
        aux["environment_files"] = [a.uid for a in locks]
    parent = _parent_run_id()
    handle = rec.open_run(
        spec,
        reference=workflow_id,
        reference_type=REFERENCE_TYPE,
        name=None,
        params=dict(workflow.config or {}),
        parent=parent,
        status="started",
        aux=aux,
    )
    handle.set_environment(env)
    rec.flush()  # the execution is in the store even if Snakemake dies
    _state.update(recorder=rec, handle=handle, workflow_id=workflow_id)


# -- the jobs ---------------------------------------------------------------------------------


def _step_source(job: Any) -> str | None:
    rule = job.rule
    if getattr(rule, "is_script", False) or getattr(rule, "is_notebook", False):
        target = getattr(rule, "script", None) or getattr(rule, "notebook", None)
        if target:
            path = Path(str(target))
            if not path.is_absolute():
                path = Path(str(rule.snakefile)).parent / path
            try:
                return path.read_text(errors="replace")
            except OSError:
                return f"# {target} (not readable when recorded)"
    if getattr(rule, "shellcmd", None):
        return rule.shellcmd
    return getattr(rule, "run_func_src", None)


def _job_name(job: Any) -> str:
    wildcards = job.wildcards_dict or {}
    if not wildcards:
        return job.rule.name
    return f"{job.rule.name} ({', '.join(f'{k}={v}' for k, v in wildcards.items())})"


def _job_times(workflow: Any, job: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    for path in list(job.output) + list(job.log):
        try:
            meta = workflow.persistence.metadata(path)
        except Exception:
            meta = None
        start = getattr(meta, "starttime", None) if meta is not None else None
        end = getattr(meta, "endtime", None) if meta is not None else None
        if isinstance(meta, dict):
            start, end = meta.get("starttime"), meta.get("endtime")
        if start:
            return dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC) if end else None
    return None, None


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _conda_env_file(job: Any) -> Path | None:
    """The rule's `conda:` environment file, when it is a file (not a named env)."""
    spec = getattr(job.rule, "conda_env", None)
    if spec is None:
        return None
    text = str(getattr(spec, "file", None) or spec)
    if not text.endswith((".yaml", ".yml")):
        return None
    path = Path(text)
    if not path.is_absolute():
        path = Path(str(job.rule.snakefile)).parent / path
    return path if path.is_file() else None


def _files(paths: Any) -> list[Path]:
    if paths is None:
        return []
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return [Path(str(p)) for p in items if p and Path(str(p)).exists()]


def _conda_used(workflow: Any) -> bool:
    methods = getattr(getattr(workflow, "deployment_settings", None), "deployment_method", None) or ()
    return any("conda" in str(m).lower() for m in methods)


def _benchmark_metrics(job: Any) -> dict[str, Any] | None:
    """The first data row of the job's `benchmark:` file (s, max_rss, io_in, ...), numbers as numbers."""
    for path in _files(job.benchmark):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        if len(lines) >= 2:
            metrics: dict[str, Any] = {}
            for key, value in zip(lines[0].split("\t"), lines[1].split("\t"), strict=False):
                try:
                    metrics[key] = float(value)
                except ValueError:
                    metrics[key] = value
            return metrics
    return None


def _job_aux(workflow: Any, job: Any) -> dict[str, Any]:
    from flowprov.core.hashing import hash_path
    from flowprov.core.tracking.adapter_kit import redact_argv

    aux: dict[str, Any] = {
        "threads": job.threads,
        "resources": _plain(dict(job.resources.items())),
        "attempt": job.attempt,
        "rule_file": str(job.rule.snakefile),
        "jobid": job.jobid,
    }
    try:
        shellcmd = job.shellcmd
    except Exception:
        shellcmd = None
    if getattr(workflow, "touch", False):
        aux["touched"] = True  # --touch: no command ran, the outputs only got new times
    elif shellcmd:
        aux["shellcmd"] = " ".join(redact_argv(shellcmd.split(" ")))
    if getattr(job, "container_img_url", None):
        aux["container"] = job.container_img_url
    conda_file = _conda_env_file(job)
    if conda_file is not None:
        aux["conda_env"] = {"path": str(conda_file.resolve()), "hash": hash_path(conda_file).hash}
    if (metrics := _benchmark_metrics(job)) is not None:
        aux["benchmark"] = metrics
    return aux


def _step_spec(job: Any, wf: Any, cache: dict[str, Any]) -> Any:
    from flowprov.core.tracking.recorder import TransformSpec

    source = _step_source(job)
    cache_key = f"{job.rule.name}\0{source}"
    if cache_key not in cache:
        cache[cache_key] = TransformSpec(
            key=f"{wf.transform.key}#{job.rule.name}",
            name=job.rule.name,
            type="step",
            source_code=source,
            version=wf.transform.version,
        )
    return cache[cache_key]


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _attempt_times(jobid: int) -> tuple[dt.datetime | None, dt.datetime | None, dict[str, Any] | None]:
    """First start, last end and the last attempt seen in the job events (None without events)."""
    attempts = _listener_attempts().get(jobid) or []
    if not attempts:
        return None, None, None
    return attempts[0]["start"], attempts[-1]["end"], attempts[-1]


def _record_job(workflow: Any, job: Any, finished: bool, ctx: dict[str, Any]) -> None:
    rec, wf = ctx["recorder"], ctx["handle"]
    started, ended, last = _attempt_times(job.jobid)
    if started is None:  # no events (a job the listener missed): Snakemake's metadata
        started, ended = _job_times(workflow, job)
    status_here = "completed" if finished else "errored"
    aux = _job_aux(workflow, job)
    attempts = _listener_attempts().get(job.jobid) or []
    if attempts:
        aux["attempt"] = len(attempts)
        aux["attempts"] = [
            {"start": _iso(a["start"]), "end": _iso(a["end"]), "status": a["status"], "error": a["error"]}
            for a in attempts
        ]
        if last is not None and last["error"] and not finished:
            aux["error"] = last["error"]  # the final attempt's error only
    params = {"wildcards": dict(job.wildcards_dict or {}), **{str(k): _plain(v) for k, v in job.params.items()}}
    handle = rec.open_run(
        _step_spec(job, wf, ctx["specs"]),
        reference=f"{ctx['workflow_id']}:{job.jobid}",
        reference_type=JOB_REFERENCE_TYPE,
        name=_job_name(job),
        parent=wf,
        params=params,
        started_at=started,
        status=status_here,
        aux=aux,
    )
    conda_file = _conda_env_file(job)
    if conda_file is not None and _conda_used(workflow):
        handle.set_environment(conda_file)  # the job ran in the rule's conda env
    for path in _files(job.input):
        handle.add_input(path)
        ctx["read"].append(path)
    for path in _files(job.output) + _files(job.log) + _files(job.benchmark):
        handle.add_output(path)
        ctx["produced"].add(str(path.resolve()))
    if started is None:
        handle.opened_at = None  # the hooks run after the job: now is not its start
        handle.aux["started_at_unknown"] = "Snakemake keeps no metadata record with a start for this job"
    rec.close_run(handle, status_here, finished_at=ended, unknown_end="Snakemake keeps no end time for this job")


def _jobs_that_ran(workflow: Any) -> tuple[list[tuple[Any, bool]], int, int]:
    """(job, finished) for every job that ran, checkpoint predecessors included; not run; failed."""
    dag = workflow.dag
    failed = set(getattr(getattr(workflow, "scheduler", None), "failed", set()) or set())
    seen_events = set(_listener_attempts())
    candidates = {id(j): j for j in list(dag.jobs) + list(getattr(dag, "_finished", ()) or ())}.values()
    ran: list[tuple[Any, bool]] = []
    not_run = 0
    for job in sorted(candidates, key=lambda j: j.jobid):
        finished = dag.finished(job)
        attempts = _listener_attempts().get(job.jobid) or []
        if attempts and attempts[-1]["status"] == "errored":
            finished = False
        if finished or job in failed or job.jobid in seen_events:
            ran.append((job, finished))
        elif dag.needrun(job):
            not_run += 1
    return ran, not_run, len(failed)


def _external_inputs(read: list[Path], produced: set[str]) -> list[Path]:
    """Files read that no job of this execution wrote (nor lie in a directory a job wrote)."""

    def made_here(path: str) -> bool:
        return path in produced or any(path.startswith(p + os.sep) for p in produced)

    unique = {str(p.resolve()): p for p in read}
    return [p for key, p in unique.items() if not made_here(key)]


def _finish(workflow: Any, log: Any, status: str, db: str | None = None) -> None:
    if _state.get("done") == id(workflow):
        return  # already recorded by the other entry point
    if "handle" not in _state:  # onstart did not run (or failed): start now, late but complete
        _start(workflow, log, db)
    ctx = {**_state, "specs": {}, "read": [], "produced": set()}
    wf = ctx["handle"]
    ran, not_run, failed = _jobs_that_ran(workflow)
    for job, finished in ran:
        _record_job(workflow, job, finished, ctx)
    for path in _external_inputs(ctx["read"], ctx["produced"]):
        wf.add_input(path)
    wf.update_aux({"jobs": {"recorded": len(ran), "not_run": not_run, "failed": failed}})
    logs = _log_paths(log)
    if logs and logs[0].exists():
        wf.set_report(logs[0])
    ctx["recorder"].close_run(wf, status)
    ctx["recorder"].flush()
    _state.clear()
    _state["done"] = id(workflow)


# -- job events: every attempt's start, end, status and error -----------------------------------

_attempts: dict[int, list[dict[str, Any]]] = {}


def _listener_attempts() -> dict[int, list[dict[str, Any]]]:
    return _attempts


def note_event(record: Any) -> None:
    """One Snakemake log record (from the plugin or the hooks' handler) into the attempt history."""
    event = str(getattr(record, "event", "") or "").lower()
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    if event.endswith("job_info") and getattr(record, "jobid", None) is not None:
        _attempts.setdefault(int(record.jobid), []).append(
            {"start": when, "end": None, "status": "started", "error": None}
        )
    elif event.endswith("job_finished") and getattr(record, "job_id", None) is not None:
        _end_attempt(int(record.job_id), when, "completed", None)
    elif event.endswith("job_error") and getattr(record, "jobid", None) is not None:
        _end_attempt(int(record.jobid), when, "errored", str(getattr(record, "msg", "") or "") or None)


def _end_attempt(jobid: int, when: dt.datetime, status: str, error: str | None) -> None:
    attempts = _attempts.get(jobid)
    if attempts and attempts[-1]["end"] is None:
        attempts[-1].update(end=when, status=status, error=error)


def _attach_listener() -> None:
    """Without the plugin, the hooks listen to Snakemake's logger themselves (same events)."""
    import logging

    class _Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                note_event(record)
            except Exception:  # never break Snakemake's logging
                pass

    logger = logging.getLogger("snakemake.logging")
    if not any(type(h).__name__ == "_Listener" for h in logger.handlers):
        logger.addHandler(_Listener(level=logging.DEBUG))


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

    def _workflow(self) -> Any:
        module = sys.modules.get("snakemake.workflow")
        return getattr(module, "workflow", None)

    def handle(self, record: Any) -> None:
        if self.dry_run or self.failed or _session.get("disabled"):
            return
        event = str(getattr(record, "event", "") or "").lower()
        try:
            if event.endswith("job_info") and "handle" not in _state:
                workflow = self._workflow()
                self.log = workflow.logger_manager.get_logfile()
                _start(workflow, self.log)  # before the event: a new execution starts a fresh history
                if "recorder" in _state:
                    _state["recorder"].flush()  # the execution is in the store even if Snakemake dies
            note_event(record)
            if event.endswith("job_error"):
                self.errored = True
        except ConflictingStores as exc:
            _session["disabled"] = True
            _report_failure("start (logger plugin)", exc, None)
        except Exception as exc:  # reported once; Snakemake carries on untouched
            self.failed = True
            _report_failure(f"event {event!r} (logger plugin)", exc, None)

    def close(self) -> None:
        if self.dry_run or self.failed or "handle" not in _state:
            return  # nothing opened, or the hooks recorded (and cleared) the execution
        try:
            workflow = self._workflow()
            ran, _not_run, _failed = _jobs_that_ran(workflow)
            status = "errored" if self.errored and any(not done for _, done in ran) else "completed"
            _finish(workflow, self.log, status)
        except Exception as exc:
            _report_failure("end (logger plugin)", exc, None)
