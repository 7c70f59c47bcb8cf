"""Snakemake: record every execution of a Snakefile with three lines of hooks.

    from flowprov.integrations import snakemake as flowprov_snakemake

    onstart:   flowprov_snakemake.onstart(workflow, log)
    onsuccess: flowprov_snakemake.onsuccess(workflow, log)
    onerror:   flowprov_snakemake.onerror(workflow, log)

What is recorded (through the Recorder):
- the execution: a Run of the pipeline transform (key = the Snakefile's path relative to the git
  root or the working directory; source = the Snakefile plus every included file; version = the
  git commit when the repository is clean), `reference` = the Workflow ID UUID Snakemake writes
  to its log (`reference_type` `snakemake_workflow_id`), params = `config`, the environment, the
  parent run (FLOWPROV_INITIATED_BY_RUN or an enclosing `track()`), the log file as its report,
  status completed or errored; its inputs are the files read that no job of this execution made.
- one child Run per job of this execution (`reference` `<workflow id>:<jobid>`, `reference_type`
  `snakemake_job_id`, name `rule (wildcards)`), of a step transform `<pipeline>#<rule>` whose
  source is the shell template, the `run:` code or the content of the `script:`/`notebook:` file;
  named params and wildcards as params; threads, resources, attempt, shell command, conda env and
  container in aux; inputs, outputs, logs and benchmark files as artifacts (hashed in place);
  start and end times from Snakemake's metadata records. Failed jobs are errored; jobs that never
  ran because the workflow stopped are not recorded (they are counted in the execution's aux).

Hooks run only in the main Snakemake process (never in job subprocesses or cluster jobs), so on a
cluster the recording happens where `snakemake` was started; when several workflows write one
store at once, use PostgreSQL. A failure inside these hooks is printed to stderr and appended to
the Snakemake log, and never changes the workflow's outcome or exit code. `--dry-run` and an
up-to-date workflow run no hooks, so nothing is recorded.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

_WORKFLOW_ID = re.compile(r"Workflow ID: ([0-9a-f-]{36})")
REFERENCE_TYPE = "snakemake_workflow_id"
JOB_REFERENCE_TYPE = "snakemake_job_id"
_state: dict[str, Any] = {}


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


def _guarded(stage: str, func, workflow: Any, log: Any) -> None:
    if not getattr(workflow, "is_main_process", True):
        return
    try:
        func(workflow, log)
    except Exception as exc:  # recording never breaks the workflow
        _report_failure(stage, exc, log)


def onstart(workflow: Any, log: Any) -> None:
    """Open the execution's run (call from `onstart:`)."""
    _guarded("start", _start, workflow, log)


def onsuccess(workflow: Any, log: Any) -> None:
    """Record the jobs and close the run as completed (call from `onsuccess:`)."""
    _guarded("end", lambda wf, logfile: _finish(wf, logfile, "completed"), workflow, log)


def onerror(workflow: Any, log: Any) -> None:
    """Record the jobs and close the run as errored (call from `onerror:`)."""
    _guarded("end", lambda wf, logfile: _finish(wf, logfile, "errored"), workflow, log)


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


def pipeline_spec(workflow: Any):
    from flowprov.core.tracking.context import _relative_key
    from flowprov.core.tracking.gitinfo import git_info
    from flowprov.core.tracking.recorder import TransformSpec

    files = _source_files(workflow)
    main = files[0].resolve()
    git = git_info(main)
    key = _relative_key(main, git.root if git else None)
    parts = []
    for f in files:
        try:
            parts.append(f"# ---- {f.name}\n{f.read_text(errors='replace')}")
        except OSError:
            continue
    version = git.commit if git and git.commit and git.dirty is False else None
    return TransformSpec(key=key, name=key, type="pipeline", source_code="\n".join(parts), version=version), git


def _parent_run_id() -> int | None:
    from flowprov.core.tracking.context import _default_run, _parent_run

    run = _default_run() or _parent_run(None)
    return run.id if run is not None else None


def _start(workflow: Any, log: Any) -> None:
    from flowprov.core.tracking.context import environment_artifact, redact_argv
    from flowprov.core.tracking.recorder import Recorder

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
    rec = Recorder()
    env, locks = environment_artifact(git.root if git else Path.cwd())
    aux: dict[str, Any] = {
        "cli_args": redact_argv(list(sys.argv)),
        "workdir": str(Path.cwd()),
        "workflow_id_source": id_source,
    }
    if git:
        aux["git"] = {"commit": git.commit, "remote": git.remote, "dirty": git.dirty}
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


def _finish(workflow: Any, log: Any, status: str) -> None:
    from flowprov.core.tracking.recorder import TransformSpec

    if "handle" not in _state:  # onstart did not run (or failed): start now, late but complete
        _start(workflow, log)
    rec, wf, workflow_id = _state["recorder"], _state["handle"], _state["workflow_id"]
    pipeline_key = wf.transform.key
    dag = workflow.dag
    failed = set(getattr(getattr(workflow, "scheduler", None), "failed", set()) or set())
    jobs = [j for j in dag.jobs if dag.needrun(j)]
    produced: set[str] = set()
    read: list[Path] = []
    not_run = 0
    step_specs: dict[str, TransformSpec] = {}
    for job in jobs:
        finished = dag.finished(job)
        if not finished and job not in failed:
            not_run += 1
            continue
        rule = job.rule
        source = _step_source(job)
        spec_key = f"{rule.name}\0{source}"
        spec = step_specs.get(spec_key)
        if spec is None:
            spec = step_specs[spec_key] = TransformSpec(
                key=f"{pipeline_key}#{rule.name}",
                name=rule.name,
                type="step",
                source_code=source,
                version=wf.transform.version,
            )
        started, ended = _job_times(workflow, job)
        aux: dict[str, Any] = {
            "threads": job.threads,
            "resources": _plain(dict(job.resources.items())),
            "attempt": job.attempt,
            "rule_file": str(rule.snakefile),
            "jobid": job.jobid,
        }
        try:
            shellcmd = job.shellcmd
        except Exception:
            shellcmd = None
        if shellcmd:
            from flowprov.core.tracking.context import redact_argv

            aux["shellcmd"] = " ".join(redact_argv(shellcmd.split(" ")))
        if getattr(job, "container_img_url", None):
            aux["container"] = job.container_img_url
        conda_file = _conda_env_file(job)
        conda = getattr(job, "conda_env_spec", None)
        if conda:
            aux["conda_env"] = str(conda)
        status_here = "completed" if finished else "errored"
        params = {"wildcards": dict(job.wildcards_dict or {}), **{str(k): _plain(v) for k, v in job.params.items()}}
        handle = rec.open_run(
            spec,
            reference=f"{workflow_id}:{job.jobid}",
            reference_type=JOB_REFERENCE_TYPE,
            name=_job_name(job),
            parent=wf,
            params=params,
            started_at=started,
            status=status_here,
            aux=aux,
        )
        if conda_file is not None:
            handle.set_environment(conda_file)  # the rule's conda env file is the job's environment
        for path in _files(job.input):
            handle.add_input(path)
            read.append(path)
        for path in _files(job.output) + _files(job.log) + _files(job.benchmark):
            handle.add_output(path)
            produced.add(str(path.resolve()))
        if started is None:
            handle.opened_at = None  # the hooks run after the job: now is not its start
            handle.aux["started_at_unknown"] = "Snakemake keeps no metadata record with a start for this job"
        rec.close_run(handle, status_here, finished_at=ended, unknown_end="Snakemake keeps no end time for this job")
    for path in {str(p.resolve()): p for p in read if str(p.resolve()) not in produced}.values():
        wf.add_input(path)
    wf.update_aux({"jobs": {"recorded": len(jobs) - not_run, "not_run": not_run, "failed": len(failed)}})
    logs = _log_paths(log)
    if logs and logs[0].exists():
        wf.set_report(logs[0])
    rec.close_run(wf, status)
    rec.flush()
    _state.clear()


# -- the logger plugin (snakemake --logger flowprov) -------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)] if str(value) not in ("", "None") else []
    return [str(v) for v in value]


class EventRecorder:
    """Records an execution from Snakemake's logger events (the plugin's whole job).

    workflow_started prepares the execution's run (written with the first job, so an up-to-date
    workflow records nothing); job_info opens a job's run; job_finished and
    job_error close it; close() (Snakemake has no "workflow finished" event) settles jobs that
    got no end event (under `-q` no job_finished arrives: a job whose outputs exist and that had
    no error succeeded), closes the execution and writes everything in one flush. Params are not
    in the events; the hooks add them when both are active (recording is idempotent).
    """

    def __init__(self, db: str | None = None, dry_run: bool = False):
        self.db = db
        self.dry_run = dry_run
        self.rec = None
        self.workflow = None
        self.workflow_id: str | None = None
        self.jobs: dict[int, Any] = {}
        self.job_info: dict[int, dict[str, Any]] = {}
        self.ended: set[int] = set()
        self.errors = 0
        self.failed = False
        self.closed = False

    def handle(self, record: Any) -> None:
        if self.dry_run or self.failed:
            return
        event = str(getattr(record, "event", "") or "")
        try:
            method = getattr(self, f"on_{event}", None)
            if method is not None:
                method(record, dt.datetime.fromtimestamp(record.created, dt.UTC))
        except Exception as exc:  # reported once; Snakemake carries on untouched
            self.failed = True
            _report_failure(f"event {event!r} (logger plugin)", exc, None)

    def on_workflow_started(self, record: Any, when: dt.datetime) -> None:
        from flowprov.core.store.connection import connect, current_store
        from flowprov.core.tracking.context import _relative_key, environment_artifact, redact_argv
        from flowprov.core.tracking.gitinfo import git_info
        from flowprov.core.tracking.recorder import Recorder, TransformSpec

        store = connect(self.db) if self.db else current_store()
        self.rec = Recorder(store)
        self.workflow_id = str(record.workflow_id)
        main = Path(str(record.snakefile_main)).resolve()
        git = git_info(main)
        key = _relative_key(main, git.root if git else None)
        source = f"# ---- {main.name}\n{main.read_text(errors='replace')}" if main.exists() else None
        version = git.commit if git and git.commit and git.dirty is False else None
        spec = TransformSpec(key=key, name=key, type="pipeline", source_code=source, version=version)
        config: dict[str, Any] = {}
        for name in _as_list(getattr(record, "configfiles", None)):
            path = Path(str(getattr(record, "cwd", ".") or ".")) / name
            if path.suffix in (".yaml", ".yml", ".json") and path.exists():
                import yaml

                loaded = yaml.safe_load(path.read_text())
                if isinstance(loaded, dict):
                    config.update(loaded)
        aux = {
            "cli_args": redact_argv(str(getattr(record, "cmd", "")).split()),
            "workdir": str(getattr(record, "cwd", "")),
        }
        if git:
            aux["git"] = {"commit": git.commit, "remote": git.remote, "dirty": git.dirty}
        parent = _parent_run_id()
        self.workflow = self.rec.open_run(
            spec,
            reference=self.workflow_id,
            reference_type=REFERENCE_TYPE,
            name=None,
            params=config or None,
            parent=parent,
            started_at=when,
            status="started",
            aux=aux,
        )
        env, _locks = environment_artifact(git.root if git else None)
        self.workflow.set_environment(env)
        # Written with the first job: an up-to-date workflow (no jobs) records nothing.

    def on_job_info(self, record: Any, when: dt.datetime) -> None:
        from flowprov.core.tracking.recorder import TransformSpec

        if self.rec is None:
            return
        jobid = int(record.jobid)
        info = {
            k: getattr(record, k, None)
            for k in ("rule_name", "input", "output", "log", "benchmark", "wildcards", "threads", "shellcmd")
        }
        wildcards = dict(info["wildcards"] or {})
        name = (
            f"{info['rule_name']} ({', '.join(f'{k}={v}' for k, v in wildcards.items())})"
            if wildcards
            else str(info["rule_name"])
        )
        spec = TransformSpec(
            key=f"{self.workflow.transform.key}#{info['rule_name']}",
            name=str(info["rule_name"]),
            type="step",
            version=self.workflow.transform.version,
        )
        previous = self.jobs.get(jobid)
        aux: dict[str, Any] = {"threads": info["threads"], "jobid": jobid}
        if info["shellcmd"] and str(info["shellcmd"]) != "None":
            aux["shellcmd"] = str(info["shellcmd"])
        if previous is not None:  # a retry of a failed attempt
            aux["attempt"] = int(previous.aux.get("attempt", 1)) + 1
            self.ended.discard(jobid)
        handle = self.rec.open_run(
            spec,
            reference=f"{self.workflow_id}:{jobid}",
            reference_type=JOB_REFERENCE_TYPE,
            name=name,
            parent=self.workflow,
            params={"wildcards": wildcards},
            started_at=when,
            status="restarted" if previous else "started",
            aux=aux,
        )
        self.jobs[jobid] = handle
        self.job_info[jobid] = info
        if len(self.jobs) == 1:
            self.rec.flush()  # the execution is in the store even if Snakemake dies later

    def _end_job(self, jobid: int, status: str, when: dt.datetime | None) -> None:
        handle, info = self.jobs.get(jobid), self.job_info.get(jobid)
        if handle is None or jobid in self.ended:
            return
        for path in _files(_as_list(info["input"])):
            handle.add_input(path)
        for path in _files(_as_list(info["output"]) + _as_list(info["log"]) + _as_list(info["benchmark"])):
            handle.add_output(path)
        self.rec.close_run(handle, status, finished_at=when)
        self.ended.add(jobid)

    def on_job_finished(self, record: Any, when: dt.datetime) -> None:
        if self.rec is not None:
            self._end_job(int(record.job_id), "completed", when)

    def on_job_error(self, record: Any, when: dt.datetime) -> None:
        if self.rec is None:
            return
        jobid = int(record.jobid)
        self.errors += 1
        handle = self.jobs.get(jobid)
        if handle is not None:
            handle.update_aux(
                {"error": str(getattr(record, "message", "")), "attempt": int(handle.aux.get("attempt", 1))}
            )
        self._end_job(jobid, "errored", when)

    def close(self) -> None:
        if self.closed or self.rec is None or self.failed or not self.jobs:
            self.closed = True
            return
        self.closed = True
        try:
            for jobid in list(self.jobs):
                if jobid not in self.ended:
                    outputs = _as_list(self.job_info[jobid]["output"])
                    done = all(Path(p).exists() for p in outputs)
                    self._end_job(jobid, "completed" if done else "errored", None)
                    if not done:
                        self.errors += 1
            final = [h for h in self.jobs.values()]
            self.workflow.update_aux(
                {"jobs": {"recorded": len(final), "failed": sum(1 for h in final if h.status == "errored")}}
            )
            self.rec.close_run(self.workflow, "errored" if any(h.status == "errored" for h in final) else "completed")
            self.rec.flush()
        except Exception as exc:
            _report_failure("end (logger plugin)", exc, None)
