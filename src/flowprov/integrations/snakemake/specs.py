"""What a Snakemake execution and its jobs are, as Recorder specs: the one place for the pipeline
transform, step transforms, job names and references, job params and aux.

Only the workflow and job objects Snakemake hands over are read here; nothing is written.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

from flowprov.core.tracking.adapter_kit import content_hash, git_facts, redact_argv, relative_key
from flowprov.core.tracking.recorder import TransformSpec

_WORKFLOW_ID = re.compile(r"Workflow ID: ([0-9a-f-]{36})")


def log_paths(log: Any) -> list[Path]:
    """`log` is a list of paths in Snakemake 9, a single path in 7."""
    if log is None:
        return []
    items = [log] if isinstance(log, (str, os.PathLike)) else list(log)
    return [Path(p) for p in items if p]


def workflow_id_from_log(log: Any) -> str | None:
    for path in log_paths(log):
        try:
            with open(path, errors="replace") as fh:
                for _, line in zip(range(50), fh, strict=False):
                    if m := _WORKFLOW_ID.search(line):
                        return m.group(1)
        except OSError:
            continue
    return None


# -- the pipeline -----------------------------------------------------------------------------


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


def _label(path: Path, base: Path) -> str:
    """An included file's label in the pipeline source: its path from the main Snakefile's folder
    (`mod/Snakefile`, not a second `Snakefile`)."""
    resolved = path.resolve()
    return resolved.relative_to(base).as_posix() if resolved.is_relative_to(base) else resolved.as_posix()


def pipeline_spec(workflow: Any) -> tuple[TransformSpec, Any]:
    """The execution's transform (the Snakefile and everything it includes) and its git facts."""
    files = _source_files(workflow)
    main = files[0].resolve()
    git = git_facts(main)
    key = relative_key(main, git.root if git else None)
    parts = []
    for f in files:
        try:
            parts.append(f"# ---- {_label(f, main.parent)}\n{f.read_text(errors='replace')}")
        except OSError:
            continue
    version = git.commit if git and git.commit and git.dirty is False else None
    return TransformSpec(key=key, name=key, type="pipeline", source_code="\n".join(parts), version=version), git


# -- the jobs ---------------------------------------------------------------------------------


def _run_block_source(rule: Any) -> str | None:
    """A `run:` block's lines as written, from the first to the last line its code maps to.

    Snakemake's own `run_func_src` repeats a line that starts more than one bytecode range
    (the first line of the block, for one), so the lines are read from the file here.
    """
    import dis
    import linecache

    func = getattr(rule, "run_func", None)
    linemaps = getattr(getattr(rule, "workflow", None), "linemaps", None)
    if func is None or linemaps is None or func.__code__.co_filename not in linemaps:
        return getattr(rule, "run_func_src", None)
    linemap, source = linemaps[func.__code__.co_filename], func.__code__.co_filename
    lines = sorted({linemap[line] for offset, line in dis.findlinestarts(func.__code__) if offset and line in linemap})
    if not lines:
        return getattr(rule, "run_func_src", None)
    return "".join(linecache.getline(source, n) for n in range(lines[0], lines[-1] + 1))


def step_source(job: Any) -> str | None:
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
    if getattr(rule, "run_func", None) is not None and not getattr(rule, "norun", False):
        return _run_block_source(rule)
    return rule_text(rule)  # a rule with no command (`rule all:` and its inputs): the rule as written


def rule_text(rule: Any) -> str | None:
    """The rule's lines in its Snakefile, from `rule name:` to the next unindented line."""
    import linecache

    linemap = (getattr(getattr(rule, "workflow", None), "linemaps", None) or {}).get(rule.snakefile) or {}
    first = linemap.get(getattr(rule, "lineno", None))
    if first is None:
        return None
    lines = [linecache.getline(rule.snakefile, first)]
    for n in range(first + 1, first + 10_000):
        line = linecache.getline(rule.snakefile, n)
        if not line or (line.strip() and not line[0].isspace()):
            break
        lines.append(line)
    return "".join(lines).rstrip() + "\n" if lines[0] else None


def job_name(job: Any) -> str:
    """`rule (wildcard=value, ...)`: the run's name, unique within an execution with the job id."""
    wildcards = job.wildcards_dict or {}
    if not wildcards:
        return job.rule.name
    return f"{job.rule.name} ({', '.join(f'{k}={v}' for k, v in wildcards.items())})"


def job_reference(workflow_id: str, jobid: int) -> str:
    return f"{workflow_id}:{jobid}"


def step_spec(job: Any, pipeline: TransformSpec, cache: dict[str, TransformSpec]) -> TransformSpec:
    source = step_source(job)
    cache_key = f"{job.rule.name}\0{source}"
    if cache_key not in cache:
        cache[cache_key] = TransformSpec(
            key=f"{pipeline.key}#{job.rule.name}",
            name=job.rule.name,
            type="step",
            source_code=source,
            version=pipeline.version,
        )
    return cache[cache_key]


def plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def job_params(job: Any) -> dict[str, Any]:
    return {"wildcards": dict(job.wildcards_dict or {}), **{str(k): plain(v) for k, v in job.params.items()}}


def metadata_times(workflow: Any, job: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A job's start and end from Snakemake's metadata records (when no job event was seen)."""
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
            first = dt.datetime.fromtimestamp(start, dt.UTC)
            last = dt.datetime.fromtimestamp(end, dt.UTC) if end else None
            return first, last if last is None or last >= first else None  # never an end before a start
    return None, None


def conda_env_file(job: Any) -> Path | None:
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


def conda_used(workflow: Any) -> bool:
    methods = getattr(getattr(workflow, "deployment_settings", None), "deployment_method", None) or ()
    return any("conda" in str(m).lower() for m in methods)


def paths_of(paths: Any) -> list[Path]:
    if paths is None:
        return []
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return [Path(str(p)) for p in items if p]


def benchmark_metrics(job: Any) -> dict[str, Any] | None:
    """The first data row of the job's `benchmark:` file (s, max_rss, io_in, ...), numbers as numbers."""
    for path in paths_of(job.benchmark):
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


def report_marks(job: Any) -> list[dict[str, Any]]:
    """Outputs marked `report(...)`: path, caption file, category and subcategory."""
    marks = []
    for path in job.output:
        flags = getattr(path, "flags", None) or {}
        report = flags.get("report")
        if report is not None:
            caption = getattr(report, "caption", None)
            marks.append(
                {
                    "path": str(path),
                    "caption": os.path.normpath(str(caption)) if caption else None,  # no `rules/../`
                    "category": plain(getattr(report, "category", None)),
                    "subcategory": plain(getattr(report, "subcategory", None)),
                }
            )
    return marks


def job_aux(workflow: Any, job: Any) -> dict[str, Any]:
    aux: dict[str, Any] = {
        "threads": job.threads,
        # '<TBD>': a resource Snakemake fills in only in the job's own process (tmpdir)
        "resources": {k: plain(v) for k, v in job.resources.items() if v != "<TBD>"},
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
    conda_file = conda_env_file(job)
    if conda_file is not None:
        aux["conda_env"] = {"path": str(conda_file.resolve()), "hash": content_hash(conda_file)}
    if (metrics := benchmark_metrics(job)) is not None:
        aux["benchmark"] = metrics
    if marks := report_marks(job):
        aux["report"] = marks
    for name, value in (("group", _group(job)), ("shadow", getattr(job.rule, "shadow_depth", None))):
        if value:
            aux[name] = str(value)
    return aux


def _group(job: Any) -> str | None:
    """The rule's `group:` for this job (Snakemake's local executor runs group members alone)."""
    if getattr(job.rule, "group", None) is None:
        return None
    try:
        return job.rule.expand_group(job.wildcards_dict)
    except Exception:
        return str(job.rule.group)
