"""The `flowprov` command line: a thin layer that parses arguments and calls the Python API.

Every command takes `--db URL` (else the usual lookup: FLOWPROV_DB, the nearest `.flowprov/`,
the per-user default). Output is a Rich table in a terminal and JSON when piped or with `--json`.
A flowprov error prints one line and exits with status 2.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Record and query the provenance of workflow runs.", no_args_is_help=True, add_completion=False)
spool_app = typer.Typer(
    help="Runs an adapter saved to a file because the store could not be written.", no_args_is_help=True
)
instance_app = typer.Typer(
    help="Named stores in your user config (for `--db NAME` and `Run.using(NAME)`).", no_args_is_help=True
)
app.add_typer(instance_app, name="instance")
app.add_typer(spool_app, name="spool")
nextflow_app = typer.Typer(
    help="Nextflow: ingest trace files, or run `nextflow run` and ingest what it wrote.", no_args_is_help=True
)
app.add_typer(nextflow_app, name="nextflow")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL, file path or configured name (default: FLOWPROV_DB, nearest .flowprov/, per-user default).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of a table (the default when output is piped).")
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", help="Show at most this many records (newest first).")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"flowprov: error: {message}", err=True)
    raise typer.Exit(code)


def cli_errors(func):
    """One line on stderr and exit status 2 for flowprov's own errors and bad arguments."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        from flowprov.core.exceptions import FlowprovError

        try:
            return func(*args, **kwargs)
        except (FlowprovError, LookupError, ValueError, OSError) as exc:
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    return wrapper


def _connect(db: str | None):
    import flowprov

    return flowprov.connect(db) if db else flowprov.connect()


def _want_json(flag: bool) -> bool:
    return flag or not sys.stdout.isatty()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console().print(table)


@app.command()
@cli_errors
def init(db: DbOption = None) -> None:
    """Create a store (or upgrade an existing one) and print where it is.

    Without --db, creates `.flowprov/` in the working directory: commands run below it use it.
    """
    from flowprov.core.store import connection, settings
    from flowprov.core.store.schema import migrate

    if db is None:
        project = Path.cwd() / settings.PROJECT_DIR
        project.mkdir(exist_ok=True)
        db = str(project / settings.PROJECT_DB)
    store = connection.Store(settings.resolve_name_or_url(db), check_schema=False)
    before, after = migrate(store)
    state = "created" if before is None else ("up to date" if before == after else f"upgraded from {before}")
    typer.echo(f"{store.display_url} ({state}, schema {after})")
    store.dispose()


@app.command()
@cli_errors
def migrate(db: DbOption = None) -> None:
    """Upgrade a store's schema to this version of flowprov (back up the store first)."""
    from flowprov.core.store import connection, settings
    from flowprov.core.store.schema import migrate as run_migrations

    url = settings.resolve_name_or_url(db) if db else settings.choose_store().url
    store = connection.Store(url, check_schema=False)
    before, after = run_migrations(store)
    typer.echo(f"{store.display_url}: {'already at' if before == after else f'{before} ->'} {after}")
    store.dispose()


@app.command()
@cli_errors
def where(db: DbOption = None) -> None:
    """Print which store is used, and why (the configuration lookup order)."""
    from flowprov.core.store.connection import current_store_source

    store = _connect(db)
    typer.echo(f"{store.display_url}  (from {current_store_source()})")


@instance_app.command("add")
@cli_errors
def instance_add(
    name: Annotated[str, typer.Argument(help="Name to refer to the store by.")],
    url: Annotated[str, typer.Argument(help="SQLAlchemy URL or SQLite file path.")],
) -> None:
    """Add (or replace) a named store in your user config."""
    from flowprov.core.store import settings

    path = settings.write_instance(name, url)
    typer.echo(f"{name} -> {url}  (in {path})")


@instance_app.command("list")
@cli_errors
def instance_list(as_json: JsonOption = False) -> None:
    """List the named stores in your user config."""
    from flowprov.core.store import settings

    instances = settings.read_instances()
    if _want_json(as_json):
        _print_json(instances)
    else:
        _print_table("instances", [{"name": k, "url": v} for k, v in sorted(instances.items())], ["name", "url"])


@spool_app.command("replay")
@cli_errors
def spool_replay(
    files: Annotated[
        list[Path], typer.Argument(help="Spool files (JSON) written by an adapter when the store was unreachable.")
    ],
    db: DbOption = None,
) -> None:
    """Write spooled runs to the store (each file in one transaction); the file is kept."""
    from flowprov.core.tracking.recorder import replay_spool

    store = _connect(db)
    for path in files:
        typer.echo(f"{path}: {replay_spool(path, store)} run(s) written to {store.display_url}")


@app.command()
@cli_errors
def runs(
    reference_type: Annotated[
        str | None, typer.Option(help="Only runs with this reference type, e.g. nextflow_session_id.")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Only runs with this reference (a run id of the workflow manager).")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only runs with this status: completed, errored, aborted, started, ...")
    ] = None,
    transform: Annotated[str | None, typer.Option(help="Only runs of the transform with this key (or name).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only runs started at or after this ISO date/time (UTC if no offset).")
    ] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List runs, newest first."""
    import flowprov as ln
    from flowprov.core.query.describe import describe_run_row

    _connect(db)
    qs = ln.Run.filter()
    if reference_type:
        qs = qs.filter(reference_type=reference_type)
    if reference:
        qs = qs.filter(reference=reference)
    if status:
        qs = qs.filter(status=status)
    if transform:
        qs = qs.filter(ln.Q(transform__key=transform) | ln.Q(transform__name=transform))
    if since:
        qs = qs.filter(started_at__gte=_parse_since(since))
    rows = [describe_run_row(r) for r in qs.select_related("transform").order_by("-started_at", "-id")[:limit]]
    if _want_json(as_json):
        _print_json(rows)
    else:
        _print_table("runs", rows, ["uid", "name", "status", "transform", "reference_type", "reference", "started_at"])


def _parse_since(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: use an ISO date or date-time, e.g. 2026-11-01 or 2026-11-01T12:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@app.command()
@cli_errors
def show(
    run: Annotated[str, typer.Argument(help="A run uid (or uid prefix) or a reference such as a Nextflow session id.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show one run: transform, params, inputs, outputs, child runs, environment."""
    import flowprov as ln
    from flowprov.core.exceptions import DoesNotExist
    from flowprov.core.query.describe import describe_run

    _connect(db)
    try:
        record = ln.Run.get(run)
    except DoesNotExist:
        matches = ln.Run.filter(reference=run).order_by("-started_at")[:2].list()
        if not matches:
            raise DoesNotExist(f"no run has uid or reference {run!r}") from None
        record = matches[0]
    data = describe_run(record)
    if _want_json(as_json):
        _print_json(data)
        return
    from rich.console import Console
    from rich.pretty import Pretty

    console = Console()
    console.print(f"[bold]Run {data['uid']}[/bold] {data['name'] or ''}  status={data['status']}")
    console.print(
        f"transform: {data['transform']['key'] or data['transform']['name']} (version {data['transform']['version']}, uid {data['transform']['uid']})"
    )
    console.print(f"reference: {data['reference_type']} = {data['reference']}")
    console.print(f"started {data['started_at']}  finished {data['finished_at']}")
    for section in ("params", "aux"):
        if data[section]:
            console.print(f"{section}:", Pretty(data[section]))
    for section in ("inputs", "outputs"):
        if data[section]:
            _print_table(section, data[section], ["uid", "key", "path", "size", "hash"])
    if data["child_runs"]:
        _print_table("child runs", data["child_runs"], ["uid", "name", "status", "transform", "reference"])
    if data["environment"]:
        console.print(f"environment: {data['environment']['path']} ({data['environment']['hash']})")


def _list_newest(
    model_name: str, describe_name: str, columns: list[str], limit: int, as_json: bool, db: str | None
) -> None:
    import flowprov as ln
    from flowprov.core.query import describe

    _connect(db)
    rows = [getattr(describe, describe_name)(r) for r in getattr(ln, model_name).filter().order_by("-id")[:limit]]
    if _want_json(as_json):
        _print_json(rows)
    else:
        _print_table(model_name.lower() + "s", rows, columns)


@app.command()
@cli_errors
def transforms(limit: LimitOption = 50, as_json: JsonOption = False, db: DbOption = None) -> None:
    """List transforms (pipelines, steps, scripts), newest first."""
    _list_newest(
        "Transform", "describe_transform", ["uid", "key", "name", "version", "type", "is_latest"], limit, as_json, db
    )


@app.command()
@cli_errors
def artifacts(limit: LimitOption = 50, as_json: JsonOption = False, db: DbOption = None) -> None:
    """List artifacts (registered files and directories), newest first."""
    _list_newest("Artifact", "describe_artifact", ["uid", "key", "path", "size", "hash"], limit, as_json, db)


@app.command()
@cli_errors
def lineage(
    target: Annotated[
        str,
        typer.Argument(
            help="A file or directory path (matched by content hash, then by location), an artifact uid or a run uid."
        ),
    ],
    downstream: Annotated[
        bool,
        typer.Option(
            "--downstream/--upstream",
            help="Walk to what came from the target instead of what led to it (default: upstream).",
        ),
    ] = False,
    depth: Annotated[int | None, typer.Option(help="Stop after this many runs (default: no limit).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: tree, mermaid or dot.")] = "tree",
    db: DbOption = None,
) -> None:
    """Show where a file or run came from (upstream) or what it led to (downstream)."""
    from flowprov.core.query.lineage import walk

    if fmt not in ("tree", "mermaid", "dot"):
        raise ValueError(f"--format {fmt!r}: use tree, mermaid or dot")
    _connect(db)
    graph = walk(_find_lineage_root(target), "downstream" if downstream else "upstream", depth)
    typer.echo({"tree": graph.to_tree, "mermaid": graph.to_mermaid, "dot": graph.to_dot}[fmt]())


def _find_lineage_root(target: str):
    import flowprov as ln
    from flowprov.core.exceptions import DoesNotExist
    from flowprov.core.registry.artifact import path_to_uri

    path = Path(target)
    if path.exists():
        from flowprov.core.hashing import hash_path

        content = hash_path(path)
        found = ln.Artifact.filter(hash=content.hash).order_by("id").first()
        if found is None:
            found = ln.Artifact.filter(path=path_to_uri(path)).order_by("-id").first()
        if found is None:
            raise DoesNotExist(f"{target}: no artifact has this content or location; was it registered?")
        return found
    for model in (ln.Artifact, ln.Run):
        try:
            return model.get(target)
        except DoesNotExist:
            continue
    raise DoesNotExist(f"{target!r} is neither an existing path nor an artifact or run uid")


def nextflow_ingest(
    targets: Annotated[
        list[Path],
        typer.Argument(
            help="Trace files or launch directories (the trace and the metadata beside it are found there)."
        ),
    ],
    history: Annotated[
        Path | None, typer.Option(help="The .nextflow/history file (default: found beside the trace).")
    ] = None,
    log: Annotated[Path | None, typer.Option(help="The .nextflow.log file (default: found beside the trace).")] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="The execution report HTML (default: execution_report*.html beside the trace, if it describes the same tasks)."
        ),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Nextflow's work directory, to read task scripts, staged inputs and outputs (default: the trace's workdir field, else ./work beside the launch).",
        ),
    ] = None,
    outdir: Annotated[
        Path | None,
        typer.Option(
            help="The pipeline's --outdir: published files are matched to the task that wrote them by content hash."
        ),
    ] = None,
    params_file: Annotated[
        Path | None,
        typer.Option(
            help="The -params-file of the launch (JSON or YAML); default: pipeline_info/params_*.json beside the trace."
        ),
    ] = None,
    run_name: Annotated[
        str | None, typer.Option(help="The launch's run name, e.g. loving_blackwell (overrides the metadata).")
    ] = None,
    session_id: Annotated[str | None, typer.Option(help="The launch's session UUID (overrides the metadata).")] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            help="The pipeline key, e.g. nf-core/rnaseq (default: from the command line in the history or report)."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Time zone of the host that wrote the trace, e.g. Europe/Berlin (default: inferred from the report, else local)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Parse and report without writing anything.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ingest Nextflow trace files: one run per launch, one child run per task."""
    from flowprov.integrations.nextflow.ingest import ingest, print_summary

    store = None if dry_run else _connect(db)
    results = []
    for target in targets:
        results += _with_progress(
            lambda progress, t=target: ingest(
                t,
                history=history,
                log=log,
                report=report,
                params_file=params_file,
                run_name=run_name,
                session_id=session_id,
                pipeline=pipeline,
                timezone=timezone,
                work_dir=work_dir,
                outdir=outdir,
                store=store,
                dry_run=dry_run,
                progress=progress,
            ),
            str(target),
        )
    if as_json:
        _print_json([r.as_dict() for r in results])
    else:
        print_summary(results)


def _with_progress(job, label: str):
    """Run `job(progress)`, showing a Rich progress bar on stderr for large traces."""
    from rich.progress import Progress

    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"ingesting {label}", total=None)

        def progress(tasks_done: int, total_bytes: int) -> None:
            bar.update(task, description=f"ingesting {label}: {tasks_done:,} tasks")

        return job(progress)


nextflow_app.command("ingest")(cli_errors(nextflow_ingest))


@nextflow_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def nextflow_run(
    ctx: typer.Context,
    pipeline: Annotated[
        str, typer.Argument(help="What `nextflow run` runs: a project (nf-core/rnaseq) or a script (main.nf).")
    ],
    db: DbOption = None,
) -> None:
    """Run `nextflow run PIPELINE [args...]`, then ingest its trace; exits with Nextflow's exit code.

    Adds -with-trace, -with-report and -name unless you give them. Put --db before PIPELINE.
    """
    from flowprov.integrations.nextflow.wrapper import run_nextflow

    store = None
    try:
        store = _connect(db)
    except Exception as exc:  # the workflow still runs; recording is reported as failed
        typer.echo(
            f"flowprov: error: cannot open the store ({exc}); Nextflow runs, but nothing will be recorded", err=True
        )
    raise typer.Exit(run_nextflow(pipeline, list(ctx.args), store=store))


prefect_app = typer.Typer(help="Prefect: settle tracked flow runs whose end was never seen.", no_args_is_help=True)
app.add_typer(prefect_app, name="prefect")


@prefect_app.command("reconcile")
@cli_errors
def prefect_reconcile(db: DbOption = None) -> None:
    """Ask Prefect's API for the final state of tracked flow runs still open in the store (cancelled, crashed)."""
    from flowprov.integrations.prefect import reconcile_pending

    store = _connect(db)
    typer.echo(f"{reconcile_pending(store)} flow run(s) settled in {store.display_url}")


@app.command("export")
@cli_errors
def export_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A run (uid or reference; exported with its child runs) or an artifact (uid or file path)."
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="openlineage, ro-crate, prov-json, prov-n or prov-jsonld.")
    ] = "ro-crate",
    out: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write (a crate: a directory or a .zip; default: standard output)."
        ),
    ] = None,
    depth: Annotated[
        int | None, typer.Option(help="For an artifact: how many runs upstream to include (default: all).")
    ] = None,
    include_files: Annotated[
        bool, typer.Option("--include-files", help="Copy the files into the crate (default: refer to them by URI).")
    ] = False,
    emit: Annotated[
        bool,
        typer.Option(
            "--emit", help="Also send the OpenLineage events through the client's configuration (openlineage.yml)."
        ),
    ] = False,
    license: Annotated[str | None, typer.Option(help="The crate's license (a URL or an SPDX id).")] = None,
    db: DbOption = None,
) -> None:
    """Export runs as OpenLineage events, a Workflow Run RO-Crate or a W3C PROV document."""
    from flowprov.interop import export

    _connect(db)
    result = export(target, fmt, out, depth=depth, include_files=include_files, emit=emit, license=license)
    if out is None:
        typer.echo(str(result), nl=False)
    else:
        typer.echo(f"wrote {out}", err=True)


@app.command("import")
@cli_errors
def import_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="OpenLineage JSON Lines / event files, Workflow Run Crates (directory or zip), PROV-JSON files."
        ),
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="openlineage, ro-crate or prov-json (default: detected).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Import runs from OpenLineage events, Workflow Run Crates or PROV-JSON (idempotent; all or nothing)."""
    from flowprov.interop import import_

    store = _connect(db)
    runs = import_(*paths, fmt=fmt)
    typer.echo(f"{len(runs)} run(s) imported into {store.display_url}")


ingest_app = typer.Typer(add_completion=False)
ingest_app.command()(cli_errors(nextflow_ingest))


def ingest_nextflow_trace_main() -> None:
    """Entry point of the `ingest-nextflow-trace` command (same as `flowprov nextflow ingest`)."""
    ingest_app()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
