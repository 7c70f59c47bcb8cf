"""The `flowprov` command line: a thin layer that parses arguments and calls the Python API.

Every command takes `--db URL` (else the usual lookup: FLOWPROV_DB, the nearest `.flowprov/`,
the per-user default). Output is a Rich table in a terminal and JSON when piped or with `--json`.
A flowprov error prints one line and exits with status 2.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store

# Help in plain text: Typer's Rich help formatter imports Rich's markdown and syntax machinery,
# ~0.3 s (several times a bare start) for every `flowprov --help` (issue 22: <= 200 ms).
PLAIN_HELP: dict[str, Any] = {"rich_markup_mode": None}
app = typer.Typer(
    help="Record and query the provenance of workflow runs.", no_args_is_help=True, add_completion=False, **PLAIN_HELP
)
spool_app = typer.Typer(
    **PLAIN_HELP, help="Runs an adapter saved to a file because the store could not be written.", no_args_is_help=True
)
instance_app = typer.Typer(
    **PLAIN_HELP, help="Named stores in your user config (for `--db NAME` and `Run.using(NAME)`).", no_args_is_help=True
)
app.add_typer(instance_app, name="instance")
app.add_typer(spool_app, name="spool")
nextflow_app = typer.Typer(
    **PLAIN_HELP,
    help="Nextflow: ingest trace files, or run `nextflow run` and ingest what it wrote.",
    no_args_is_help=True,
)
app.add_typer(nextflow_app, name="nextflow")


def _check_db(value: str | None) -> str | None:
    from flowprov.core.store.engine import is_in_memory

    if value is not None and "://" in value and is_in_memory(value):
        raise typer.BadParameter(f"{value!r} is an in-memory store, gone when the command ends: give a file path")
    return value


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL, file path or configured name (default: FLOWPROV_DB, nearest .flowprov/, per-user default).",
        callback=_check_db,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of a table (the default when output is piped).")
]
WideOption = Annotated[
    bool, typer.Option("--wide", help="Every column, however wide the terminal (the lines wrap, nothing is cut).")
]
LimitOption = Annotated[
    int,
    typer.Option("--limit", "-n", min=0, max=10**12, help="Show at most this many records (newest first)."),
]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"flowprov: error: {message}", err=True)
    raise typer.Exit(code)


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """One line on stderr and exit status 2 for flowprov's own errors and bad arguments."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import DBAPIError

        from flowprov.core.exceptions import FlowprovError
        from flowprov.core.store.engine import driver_reason

        try:
            return func(*args, **kwargs)
        except (FlowprovError, LookupError, ValueError, OSError) as exc:
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except DBAPIError as exc:  # the store failed under a command that opened it fine
            _fail(f"the store failed: {driver_reason(exc)}")

    return wrapper


def _connect(db: str | None, create: bool = True) -> Store:
    """Open the store; read commands pass create=False, so they never make a store or a schema."""
    import flowprov

    return flowprov.connect(db, create=create)


def _want_json(flag: bool) -> bool:
    return flag or not sys.stdout.isatty()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _print_json_stream(rows: Any) -> None:
    """A JSON array written row by row: a million rows never sit in memory at once."""
    out = sys.stdout
    out.write("[")
    separator = "\n  "
    for row in rows:
        out.write(separator + json.dumps(row, default=str))
        separator = ",\n  "
    out.write("\n]\n" if separator != "\n  " else "]\n")
    out.flush()


WHOLE_COLUMNS = ("uid", "reference")  # never cut or wrapped: they are what one copies


def _table_width(rows: list[dict[str, Any]], columns: list[str]) -> int:
    """Characters a rich table of these columns needs unwrapped (3 of border and padding each)."""
    return 1 + sum(3 + max([len(c)] + [len(str(r.get(c) or "")) for r in rows]) for c in columns)


def _fitting_columns(
    rows: list[dict[str, Any]], columns: list[str], droppable: tuple[str, ...], width: int
) -> list[str]:
    """The columns that fit the terminal, dropping the `droppable` ones (lowest value first)."""
    shown = list(columns)
    for col in droppable:
        if _table_width(rows, shown) <= width:
            break
        shown.remove(col)
    # still too wide: uids and references take their whole width, the others need room to wrap
    # in (a column squeezed to nothing shows nothing); drop those from the right until they have it
    while _narrowest_width(rows, shown) > width and any(c not in WHOLE_COLUMNS for c in shown):
        shown.remove([c for c in shown if c not in WHOLE_COLUMNS][-1])
    return shown


def _narrowest_width(rows: list[dict[str, Any]], columns: list[str]) -> int:
    """The width a table needs with its wrapping columns folded to at most 10 characters."""
    whole = [c for c in columns if c in WHOLE_COLUMNS]
    folded = sum(
        3 + min(10, max([len(c)] + [len(str(r.get(c) or "")) for r in rows])) for c in columns if c not in whole
    )
    return _table_width(rows, whole) + folded


def _print_table(
    title: str, rows: list[dict[str, Any]], columns: list[str], droppable: tuple[str, ...] = (), wide: bool = False
) -> None:
    """A table that fits the terminal: low-value columns dropped (`--wide` keeps them), long
    values wrapped, never cut; uids and references stay whole."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    shown = columns if wide else _fitting_columns(rows, columns, droppable, console.width)
    hidden = [c for c in columns if c not in shown]
    table = Table(title=title, caption=f"not shown: {', '.join(hidden)} (--wide shows them)" if hidden else None)
    for col in shown:
        table.add_column(col, overflow="fold", no_wrap=col in WHOLE_COLUMNS)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in shown))
    if wide:  # as wide as the values: the terminal wraps the lines, rich cuts nothing
        console = Console(width=max(console.width, _table_width(rows, columns)))
    console.print(table)


@app.command()
@cli_errors
def init(
    db: DbOption = None,
    storage: Annotated[
        Path | None,
        typer.Option("--storage", help="directory of the store's default storage location (lamindb's storage)"),
    ] = None,
) -> None:
    """Create a store (or upgrade an existing one) and print where it is.

    Without --db, creates `.flowprov/` in the working directory: commands run below it use it.
    `--storage DIR` makes DIR the default storage location (where `Artifact.from_dataframe` writes).
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
    if storage is not None:
        from flowprov.core.registry.artifact_create import set_default_storage

        typer.echo(f"default storage: {set_default_storage(store, storage).root}")
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

    store = _connect(db, create=False)
    typer.echo(f"{store.display_url}  (from {current_store_source()})")


@instance_app.command("add")
@cli_errors
def instance_add(
    name: Annotated[str, typer.Argument(help="Name to refer to the store by.")],
    url: Annotated[str, typer.Argument(help="SQLAlchemy URL or SQLite file path.")],
) -> None:
    """Add (or replace) a named store in your user config."""
    from flowprov.core.redaction import redact_text
    from flowprov.core.store import settings

    path = settings.write_instance(name, url)
    typer.echo(f"{name} -> {redact_text(url)}  (in {path})")


@instance_app.command("list")
@cli_errors
def instance_list(as_json: JsonOption = False, wide: WideOption = False) -> None:
    """List the named stores in your user config."""
    from flowprov.core.redaction import redact_text
    from flowprov.core.store import settings

    instances = {name: redact_text(url) for name, url in settings.read_instances().items()}
    if _want_json(as_json):
        _print_json(instances)
    else:
        rows = [{"name": k, "url": v} for k, v in sorted(instances.items())]
        _print_table("instances", rows, ["name", "url"], wide=wide)


@spool_app.command("list")
@cli_errors
def spool_list(as_json: JsonOption = False, wide: WideOption = False) -> None:
    """List the spool files waiting for `flowprov spool replay` (oldest first)."""
    from flowprov.core.tracking.spool import pending_spool_files

    rows = [f.as_dict() for f in pending_spool_files()]
    if _want_json(as_json):
        _print_json(rows)
    else:
        _print_table("pending spool files", rows, ["path", "runs", "store", "created"], ("created", "store"), wide)


@spool_app.command("replay")
@cli_errors
def spool_replay(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Spool files written when the store could not be written (default: every pending one)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write spooled runs to the store, each file in one transaction; a replayed pending file moves to done/.

    Replaying is idempotent: runs already in the store are not written again.
    """
    from flowprov.core.tracking.spool import pending_spool_files, replay_spool_file

    store = _connect(db)
    paths = files or [f.path for f in pending_spool_files()]
    if not paths:
        typer.echo("no pending spool files")
    for path in paths:
        new, total = replay_spool_file(path, store)
        typer.echo(f"{path}: {new} new run(s) of {total} written to {store.display_url}")


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
    wide: WideOption = False,
    db: DbOption = None,
) -> None:
    """List runs, newest first (columns that do not fit the terminal are dropped; --wide keeps them)."""
    import flowprov as ln
    from flowprov.core.registry.describe import describe_run_row

    _connect(db, create=False)
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
    rows = (
        describe_run_row(r) for r in qs.select_related("transform").order_by("-started_at", "-id")[:limit].iterator()
    )
    if _want_json(as_json):
        _print_json_stream(rows)
    else:
        columns = ["uid", "name", "status", "transform", "reference_type", "reference", "started_at"]
        _print_table("runs", list(rows), columns, ("reference_type", "transform", "started_at", "name"), wide)


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
    children: Annotated[
        str,
        typer.Option(
            help="How many child runs to list after their summary (counts by status and step): a number, or all."
        ),
    ] = "20",
    as_json: JsonOption = False,
    wide: WideOption = False,
    db: DbOption = None,
) -> None:
    """Show one run: transform, params, inputs, outputs, environment, and its child runs summarised."""
    from flowprov.core.registry.describe import child_runs, describe_run, describe_run_row

    listed = _children_count(children)
    _connect(db, create=False)
    record = _run_by_uid_or_reference(run)
    data = describe_run(record, children=0 if listed is None else listed)
    if _want_json(as_json) and listed is None:  # every child run: stream them after the rest
        text = json.dumps({k: v for k, v in data.items() if k != "child_runs"}, indent=2, default=str)
        sys.stdout.write(text[: text.rindex("}")].rstrip() + ',\n  "child_runs": ')
        _print_json_stream(describe_run_row(c) for c in child_runs(record).iterator())
        sys.stdout.write("}\n")
    elif _want_json(as_json):
        _print_json(data)
    else:
        _print_run(record, data, listed, wide)


def _run_by_uid_or_reference(run: str) -> Any:
    """The run with this uid (or uid prefix), else the newest run with this reference."""
    import flowprov as ln
    from flowprov.core.exceptions import DoesNotExist

    try:
        return ln.Run.get(run)
    except DoesNotExist:
        matches = ln.Run.filter(reference=run).order_by("-started_at")[:2].list()
        if not matches:
            raise DoesNotExist(f"no run has uid or reference {run!r}") from None
        return matches[0]


def _print_run(record: Any, data: dict[str, Any], listed: int | None, wide: bool = False) -> None:
    """`flowprov show` as text: `data` is describe_run(record); `listed` child runs (None: all)."""
    from rich.console import Console
    from rich.pretty import Pretty

    from flowprov.core.registry.describe import child_runs, describe_run_row

    console = Console()
    console.print(f"[bold]Run {data['uid']}[/bold] {data['name'] or ''}  status={data['status']}")
    console.print(
        f"transform: {data['transform']['key'] or data['transform']['name']} (version "
        f"{data['transform']['version']}, uid {data['transform']['uid']})"
    )
    console.print(f"reference: {data['reference_type']} = {data['reference']}")
    console.print(f"started {data['started_at']}  finished {data['finished_at']}")
    for section in ("params", "aux"):
        if data[section]:
            console.print(f"{section}:", Pretty(data[section]))
    for section in ("inputs", "outputs"):
        if data[section]:
            _print_table(section, data[section], ["uid", "key", "path", "size", "hash"], ARTIFACT_DROPPABLE, wide)
    summary = data["child_runs_summary"]
    if summary["total"]:
        statuses = ", ".join(f"{n} {status}" for status, n in summary["by_status"].items())
        console.print(f"child runs: {summary['total']} ({statuses}); by step:", Pretty(summary["by_step"]))
        rows = (
            data["child_runs"] if listed is not None else [describe_run_row(c) for c in child_runs(record).iterator()]
        )
        shown = f"first {len(rows)} of {summary['total']}" if len(rows) < summary["total"] else "all"
        columns = ["uid", "name", "status", "transform", "reference"]
        _print_table(f"child runs ({shown})", rows, columns, ("transform", "name"), wide)
    if data["environment"]:
        console.print(f"environment: {data['environment']['path']} ({data['environment']['hash']})")


def _children_count(text: str) -> int | None:
    """`--children`: a count, or None for all."""
    if text == "all":
        return None
    if not text.isdigit() or len(text) > 12:
        raise typer.BadParameter(f"--children {text!r}: give a number or all")
    return int(text)


ARTIFACT_DROPPABLE = ("size", "hash", "key")  # the lowest value first: dropped when the terminal is narrow


def _list_newest(
    model_name: str,
    describe_name: str,
    columns: list[str],
    droppable: tuple[str, ...],
    options: tuple[int, bool, bool, str | None],
) -> None:
    limit, as_json, wide, db = options
    import flowprov as ln
    from flowprov.core.registry import describe

    _connect(db, create=False)
    records = getattr(ln, model_name).filter().order_by("-id")[:limit].iterator()
    rows = (getattr(describe, describe_name)(r) for r in records)
    if _want_json(as_json):
        _print_json_stream(rows)
    else:
        _print_table(model_name.lower() + "s", list(rows), columns, droppable, wide)


@app.command()
@cli_errors
def transforms(
    limit: LimitOption = 50, as_json: JsonOption = False, wide: WideOption = False, db: DbOption = None
) -> None:
    """List transforms (pipelines, steps, scripts), newest first (--wide: every column)."""
    columns = ["uid", "key", "name", "version", "type", "is_latest"]
    _list_newest("Transform", "describe_transform", columns, ("is_latest", "name", "type"), (limit, as_json, wide, db))


@app.command()
@cli_errors
def artifacts(
    limit: LimitOption = 50, as_json: JsonOption = False, wide: WideOption = False, db: DbOption = None
) -> None:
    """List artifacts (registered files and directories), newest first (--wide: every column)."""
    columns = ["uid", "key", "path", "size", "hash"]
    _list_newest("Artifact", "describe_artifact", columns, ARTIFACT_DROPPABLE, (limit, as_json, wide, db))


@app.command()
@cli_errors
def lineage(
    target: Annotated[
        str,
        typer.Argument(
            help="A file or directory path (from the run that last wrote it there, else by content hash), "
            "an artifact uid or a run uid."
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
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Text format: tree, mermaid or dot (default: tree; JSON when piped)."),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show where a file or run came from (upstream) or what it led to (downstream)."""
    if fmt not in (None, "tree", "mermaid", "dot"):
        raise ValueError(f"--format {fmt!r}: use tree, mermaid or dot")
    _connect(db, create=False)
    graph = _lineage_graph(target, "downstream" if downstream else "upstream", depth)
    if as_json or (fmt is None and _want_json(False)):
        _print_json(graph.to_dict())
        return
    fmt = fmt or "tree"
    for note in graph.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo({"tree": graph.to_tree, "mermaid": graph.to_mermaid, "dot": graph.to_dot}[fmt]())


@app.command("diff")
@cli_errors
def diff_runs(
    a: Annotated[
        str,
        typer.Argument(
            help="Run A: a run uid (or prefix), a reference (workflow id, session id, flow run id), a run name, "
            "an artifact uid or a file path (the run that produced it)."
        ),
    ],
    b: Annotated[
        str | None,
        typer.Argument(
            help="Run B, named the same ways. Without it, the run given is compared with the run before it "
            "of the same pipeline or script (shown as A)."
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every layer and entry, also those that are the same.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="Output format: text, json or md (Markdown).")] = "text",
    max_text_bytes: Annotated[
        int, typer.Option(help="Show a line diff for changed text files up to this size (bytes; 0 turns it off).")
    ] = 64 * 1024,
    metrics_threshold: Annotated[
        float,
        typer.Option(help="Report task metrics (realtime, peak RSS, CPU %) whose ratio B/A passes this, either way."),
    ] = 1.5,
    fail_on_change: Annotated[
        bool, typer.Option("--fail-on-change", help="Exit with status 1 when anything differs (for CI).")
    ] = False,
    db: DbOption = None,
) -> None:
    """What changed between two runs (transform, params, environment, files, steps, facts), and why each changed output changed."""
    import flowprov

    if fmt not in ("text", "json", "md"):
        raise ValueError(f"--format {fmt!r}: use text, json or md")
    _connect(db)
    result = flowprov.diff(a, b, max_text_bytes=max_text_bytes, metrics_threshold=metrics_threshold)
    if fmt == "json":
        _print_json(result.to_dict(all=show_all))
    elif fmt == "md":
        typer.echo(result.markdown(all=show_all), nl=False)
    elif sys.stdout.isatty():
        from flowprov.diff.render import print_rich

        print_rich(result.to_dict(all=show_all))
    else:
        typer.echo(result.text(all=show_all), nl=False)
    if fail_on_change and result.changed:
        raise typer.Exit(1)


def _lineage_graph(target: str, direction: str, depth: int | None) -> Any:
    import flowprov as ln
    from flowprov.core.exceptions import DoesNotExist
    from flowprov.core.registry.lineage import of_path, walk

    if Path(target).exists():
        return of_path(target, direction, depth)
    for model in (ln.Artifact, ln.Run):
        try:
            return walk(model.get(target), direction, depth)
        except DoesNotExist:
            continue
    try:
        return of_path(target, direction, depth)  # a file that was recorded but is gone now
    except DoesNotExist:
        raise DoesNotExist(f"{target!r} is neither a recorded path nor an artifact or run uid") from None


@app.command()
@cli_errors
def ui(
    db: DbOption = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on; anything but 127.0.0.1 lets other machines read the store (no login)."
        ),
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the UI in the default web browser.")] = False,
) -> None:
    """Browse runs, artifacts, transforms and lineage in a local, read-only web UI (needs `flowprov[ui]`)."""
    try:
        from flowprov.ui.app import serve
    except ImportError as exc:
        raise ValueError(f"the UI needs its extra: pip install 'flowprov[ui]' ({exc})") from None
    serve(db, host=host, port=port, open_browser=open_browser)


# The options of `flowprov nextflow ingest` (module level, so the command reads as its steps).
NfTargets = Annotated[
    list[Path],
    typer.Argument(help="Trace files or launch directories (the trace and the metadata beside it are found there)."),
]
NfHistory = Annotated[Path | None, typer.Option(help="The .nextflow/history file (default: found beside the trace).")]
NfLog = Annotated[Path | None, typer.Option(help="The .nextflow.log file (default: found beside the trace).")]
NfReport = Annotated[
    Path | None,
    typer.Option(
        help="The execution report HTML (default: execution_report*.html beside the trace, if it describes the same tasks)."
    ),
]
NfWorkDir = Annotated[
    Path | None,
    typer.Option(
        "--work-dir",
        help=(
            "Nextflow's work directory, to read task scripts, staged inputs and outputs "
            "(default: the trace's workdir field, else ./work beside the launch)."
        ),
    ),
]
NfOutdir = Annotated[
    Path | None,
    typer.Option(
        help="The pipeline's --outdir: published files are matched to the task that wrote them by content hash."
    ),
]
NfParamsFile = Annotated[
    Path | None,
    typer.Option(
        help="The -params-file of the launch (JSON or YAML); default: pipeline_info/params_*.json beside the trace."
    ),
]
NfRunName = Annotated[
    str | None, typer.Option(help="The launch's run name, e.g. loving_blackwell (overrides the metadata).")
]
NfSessionId = Annotated[str | None, typer.Option(help="The launch's session UUID (overrides the metadata).")]
NfPipeline = Annotated[
    str | None,
    typer.Option(
        help="The pipeline key, e.g. nf-core/rnaseq (default: from the command line in the history or report)."
    ),
]
NfTimezone = Annotated[
    str | None,
    typer.Option(
        help="Time zone of the host that wrote the trace, e.g. Europe/Berlin (default: inferred from the report, else local)."
    ),
]
NfDryRun = Annotated[bool, typer.Option("--dry-run", help="Parse and report without writing anything.")]


def nextflow_ingest(
    targets: NfTargets,
    history: NfHistory = None,
    log: NfLog = None,
    report: NfReport = None,
    work_dir: NfWorkDir = None,
    outdir: NfOutdir = None,
    params_file: NfParamsFile = None,
    run_name: NfRunName = None,
    session_id: NfSessionId = None,
    pipeline: NfPipeline = None,
    timezone: NfTimezone = None,
    dry_run: NfDryRun = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ingest Nextflow trace files: one run per launch, one child run per task.

    A store that cannot be opened or written: each launch is spooled (one line naming the file,
    replay with `flowprov spool replay`) and the exit status is 1."""
    options = {
        "history": history,
        "log": log,
        "report": report,
        "params_file": params_file,
        "run_name": run_name,
        "session_id": session_id,
        "pipeline": pipeline,
        "timezone": timezone,
        "work_dir": work_dir,
        "outdir": outdir,
        "dry_run": dry_run,
    }
    store, store_error = (None, None) if dry_run else _ingest_store(db)
    results = _ingest_targets(targets, options, store, store_error)
    _report_ingest(results, as_json)


def _ingest_store(db: str | None) -> tuple[Any, BaseException | None]:
    """The store to ingest into, or why it cannot be opened (the launches are spooled then)."""
    from flowprov.core.tracking.adapter_kit import store_failures

    try:
        return _connect(db), None
    except store_failures() as exc:  # read and spool all the same: nothing recorded is lost
        return None, exc


def _ingest_targets(
    targets: list[Path], options: dict[str, Any], store: Any, store_error: BaseException | None
) -> list[Any]:
    """Every launch of every target, each with a progress bar on a terminal."""
    from flowprov.integrations.nextflow.ingest import ingest

    results = []
    for target in targets:

        def ingest_one(progress: Callable[[int, int], None], t: Path = target) -> list[Any]:
            return ingest(t, store=store, progress=progress, store_error=store_error, **options)

        results += _with_progress(ingest_one, str(target))
    return results


def _report_ingest(results: list[Any], as_json: bool) -> None:
    """The summary (or JSON); exit status 1 when a launch had to be spooled."""
    from flowprov.integrations.nextflow.ingest import print_summary

    if _want_json(as_json):
        _print_json([r.as_dict() for r in results])
    else:
        print_summary(results)
    if any(r.spooled for r in results):
        raise typer.Exit(1)


def _with_progress(job: Callable[[Callable[[int, int], None]], Any], label: str) -> Any:
    """Run `job(progress)`, showing a Rich progress bar on stderr for large traces."""
    from rich.progress import Progress

    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"ingesting {label}", total=None)

        def progress(tasks_done: int, total_tasks: int) -> None:
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

    store, store_error = None, None
    try:
        store = _connect(db)
    except Exception as exc:  # the workflow still runs; what it wrote is spooled at the end
        store_error = exc
    raise typer.Exit(run_nextflow(pipeline, list(ctx.args), store=store, store_error=store_error))


@nextflow_app.command("serve")
@cli_errors
def nextflow_serve(
    host: Annotated[str, typer.Option(help="Address to listen on (localhost only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port, printed at start).")] = 0,
    db: DbOption = None,
) -> None:
    """Record Nextflow launches live: run Nextflow with `-with-weblog http://HOST:PORT/`; stop with Ctrl-C."""
    from flowprov.integrations.nextflow.receiver import serve

    raise typer.Exit(serve(_connect(db), host, port))


prefect_app = typer.Typer(
    help="Prefect: settle tracked flow runs whose end was never seen.", no_args_is_help=True, **PLAIN_HELP
)
app.add_typer(prefect_app, name="prefect")


@prefect_app.command("reconcile")
@cli_errors
def prefect_reconcile(db: DbOption = None) -> None:
    """Ask Prefect's API for the final state of tracked flow runs still open in the store (cancelled, crashed)."""
    from flowprov.integrations.prefect import reconcile_pending

    store = _connect(db)
    typer.echo(f"{reconcile_pending(store)} flow run(s) settled in {store.display_url}")


snakemake_app = typer.Typer(help="Snakemake: settle executions that died.", no_args_is_help=True)
app.add_typer(snakemake_app, name="snakemake")


@snakemake_app.command("reconcile")
@cli_errors
def snakemake_reconcile(
    directory: Annotated[Path, typer.Argument(help="The Snakemake working directory (with .snakemake/).")] = Path(),
    db: DbOption = None,
) -> None:
    """Executions of DIRECTORY left `started` (killed, a lost node) become aborted; refused while Snakemake holds the directory's lock."""
    from flowprov.integrations.snakemake.settle import reconcile

    store = _connect(db)
    settled = reconcile(directory, store)
    typer.echo(f"{len(settled)} execution(s) settled as aborted in {store.display_url}")


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


ingest_app = typer.Typer(add_completion=False, **PLAIN_HELP)
ingest_app.command()(cli_errors(nextflow_ingest))


def ingest_nextflow_trace_main() -> None:
    """Entry point of the `ingest-nextflow-trace` command (same as `flowprov nextflow ingest`)."""
    _run_app(ingest_app)


def _run_app(command: typer.Typer) -> None:
    """Run a Typer app: usage errors as one `flowprov: error:` line with exit status 2, and warnings
    as `flowprov: warning:` lines after a command that succeeded (a failed one prints its error only)."""
    try:  # Typer >= 0.24 carries its own copy of click
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - older Typer on the real click
        from click import exceptions as click_errors  # type: ignore[no-redef]

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        try:
            code = command(standalone_mode=False)
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            code = 2
        except click_errors.UsageError as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            typer.echo(f"flowprov: error: {' '.join(exc.format_message().split())}{where}", err=True)
            code = 2
        except typer.Abort:
            typer.echo("flowprov: aborted", err=True)
            code = 1
    code = code if isinstance(code, int) else 0
    if code == 0:
        for warning in seen:
            typer.echo(f"flowprov: warning: {warning.message}", err=True)
    sys.exit(code)


def main() -> None:
    _run_app(app)


if __name__ == "__main__":
    main()
