"""`track()` / `finish()`: one global run for a script or notebook, as on lamindb's Run page.

What happens when (in a script or a notebook kernel that called `track()`):

- `finish()` sets `finished_at` and the status you give (default "completed").
- The interpreter exits without `finish()`: the run is finished as **completed** (atexit).
- An uncaught exception: the run is **errored**; `aux["error"]` holds the exception type and
  message, `aux["traceback"]` the last lines; then Python's own excepthook runs as before.
- KeyboardInterrupt (SIGINT) that ends the program: **aborted**.
- SIGTERM (e.g. a cluster job killed at its time limit): **aborted**, written before the process
  dies; then the previous SIGTERM behaviour runs, so the exit status is what it would have been.
- SIGKILL or a power cut: nothing can run; the run stays "started".

`track()` never prompts. It records the calling file as the transform (key: path relative to the
git root, else to the working directory; source code and hash; a changed file is a new version),
the command line (secrets redacted), git commit/remote/dirty flag, the parent run
(`initiated_by_run=` or env FLOWPROV_INITIATED_BY_RUN) and the environment. It sets
FLOWPROV_INITIATED_BY_RUN for child processes, so a workflow started from a tracked script becomes
its child run.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

from flowprov.core.fieldtypes import utcnow
from flowprov.core.redaction import redact_argv
from flowprov.core.tracking.adapter_kit import (
    INITIATED_BY_ENV,
    environment_paths,
    git_aux,
    parent_run,
    relative_key,
)
from flowprov.core.tracking.targets import as_path, current_target, find_target

if TYPE_CHECKING:
    from flowprov.core.registry import Artifact, Run, Transform
    from flowprov.core.tracking.offline import OfflineRun
    from flowprov.core.tracking.recorder import FileSpec


class Context:
    """The global tracking context: `ln.context.run`, `ln.context.transform`."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.transform: Transform | None = None
        self._finished = False
        self._error: dict[str, Any] | None = None
        self._hooks_installed = False
        self._lock = threading.RLock()
        self._offline: OfflineRun | None = None  # the run goes to a spool file: its store failed
        self._facts: dict[str, Any] = {}  # the stored run's facts, for going offline halfway

    def __repr__(self) -> str:
        return f"Context(transform={self.transform!r}, run={self.run!r})"

    @property
    def _run(self) -> Run | None:
        """lamindb's name of `run` (its tests reset the global run with `ln.context._run = None`)."""
        return self.run

    @_run.setter
    def _run(self, value: Run | None) -> None:
        self.run = value


context = Context()


def _caller_file() -> Path | None:
    """The first file on the stack outside flowprov (the script that called track())."""
    here = Path(__file__).resolve().parents[2]
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<") and not Path(filename).resolve().is_relative_to(here):
            return Path(filename).resolve()
        frame = frame.f_back
    return None


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _notebook_path() -> Path | None:
    """The running notebook's file, from what Jupyter and VS Code tell the kernel."""
    for var in ("JPY_SESSION_NAME", "FLOWPROV_NOTEBOOK"):
        value = os.environ.get(var)
        if value and value.endswith(".ipynb") and Path(value).exists():
            return Path(value).resolve()
    ipython = sys.modules["IPython"].get_ipython()
    vsc = ipython.user_ns.get("__vsc_ipynb_file__") if ipython is not None else None
    if vsc and Path(vsc).exists():
        return Path(vsc).resolve()
    return None


def _notebook_source(path: Path) -> str:
    try:
        nb = json.loads(path.read_text())
        cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        return "\n\n".join("".join(c.get("source", "")) for c in cells)
    except (OSError, ValueError):
        return path.read_text(errors="replace")


def environment_artifact(project_root: Path | None) -> tuple[Artifact, list[Artifact]]:
    """The environment listing as an artifact, plus lock files found at the project root."""
    from flowprov.core.registry import Artifact

    env_path, lock_paths = environment_paths(project_root)
    env = Artifact(env_path, description="Python environment (name==version)", run=False).save()
    locks = [Artifact(p, run=False).save() for p in lock_paths]
    return env, locks


def notify(run_ids: list[int]) -> None:
    from flowprov.core.tracking.listeners import notify as notify_listeners

    notify_listeners(run_ids)


def track(
    transform: Transform | None = None,
    params: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    initiated_by_run: Run | int | str | None = None,
    name: str | None = None,
    plan: Artifact | str | None = None,
) -> Run | None:
    """Start recording the calling script or notebook (or a given Transform) as a run.

    `plan` (lamindb 2.x): the artifact, or the key of a stored one, holding the (agent) plan the
    run follows; it becomes `run.plan`.

    Returns the run; `ln.context.run` and `ln.context.transform` hold it afterwards. When the store
    cannot be written, it warns once and returns None: the script runs, and the run goes to a
    spool file (`flowprov spool replay` writes it later).
    """
    from flowprov.core.registry import Transform

    with context._lock:
        aux: dict[str, Any] = {
            "cli_args": redact_argv(list(sys.argv)),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "python": sys.executable,
        }
        project_root: Path | None = None
        if transform is None:
            transform, project_root = _calling_source(key, aux)
        elif not isinstance(transform, Transform):
            raise TypeError(f"track(transform): expected a Transform, got {type(transform).__name__}")
        elif transform.type in ("notebook", "script"):  # lamindb: those are read from the source
            raise ValueError(
                "Use `ln.track()` without passing transform in a notebook or script - metadata is automatically parsed"
            )
        from flowprov.core.tracking.offline import store_failures

        try:
            run = _start_in_store(transform, name, params, aux, project_root, initiated_by_run, plan)
        except store_failures() as exc:  # the script runs all the same; the run goes to a spool file
            _start_offline(exc, transform, name, params, aux, project_root, initiated_by_run)
            return None
        transform = run.transform
        from flowprov.core.tracking.offline import run_facts

        context.transform, context.run, context._offline = transform, run, None
        context._facts = run_facts(run)  # to carry on offline if the store fails halfway
        context._finished, context._error = False, None
        os.environ[INITIATED_BY_ENV] = run.uid
        current_target.set(_ImmediateTarget(run))
        _install_exit_hooks()
        return run


def _calling_source(key: str | None, aux: dict[str, Any]) -> tuple[Transform, Path]:
    """The transform of the calling script or notebook (its source, git facts into `aux`) and the
    project root its paths are relative to."""
    from flowprov.core.gitinfo import git_info
    from flowprov.core.registry import Transform

    notebook = _in_notebook()
    source_path = _notebook_path() if notebook else _caller_file()
    source = (
        (_notebook_source(source_path) if notebook else source_path.read_text(errors="replace"))
        if source_path
        else None
    )
    git = git_info(source_path) if source_path else None
    if git:
        aux["git"] = git_aux(git)
    if not key:
        if source_path is None:
            raise ValueError(
                "flowprov.track(): cannot tell which notebook this is; pass track(key='path/to/notebook.ipynb')"
            )
        key = relative_key(source_path, git.root if git else None)
    transform = Transform(key=key, type="notebook" if notebook else "script", source_code=source)
    return transform, git.root if git else Path.cwd()


def _start_in_store(
    transform: Transform,
    name: str | None,
    params: dict[str, Any] | None,
    aux: dict[str, Any],
    project_root: Path | None,
    initiated_by_run: Run | int | str | None,
    plan: Artifact | str | None = None,
) -> Run:
    from flowprov.core.registry import Run

    plan_artifact = _plan_artifact(plan)
    transform = transform.save()
    env, locks = environment_artifact(project_root)
    if locks:
        aux["environment_files"] = [a.uid for a in locks]
    parent = parent_run(initiated_by_run)
    run = Run(
        transform, name=name, params=params, initiated_by_run=parent, aux=aux, environment=env, plan=plan_artifact
    )
    run.save()
    notify([run.id])
    return run


def _plan_artifact(plan: Artifact | str | None) -> Artifact | None:
    """track(plan=): a saved artifact, or the key of a stored one (lamindb 2.x)."""
    from flowprov.core.exceptions import InvalidArgument
    from flowprov.core.registry import Artifact

    if plan is None or (isinstance(plan, Artifact) and plan.id is not None):
        return plan
    if isinstance(plan, Artifact):
        raise InvalidArgument("track(plan=...): save the plan artifact first")
    if not isinstance(plan, str):
        raise InvalidArgument(f"track(plan=...): expected an Artifact or an artifact key, got {type(plan).__name__}")
    found = Artifact.filter(key=plan).order_by("-id").first()
    if found is None:
        raise InvalidArgument(f"track(plan={plan!r}): no artifact with that key")
    return found


def _start_offline(
    exc: BaseException,
    transform: Transform,
    name: str | None,
    params: dict[str, Any] | None,
    aux: dict[str, Any],
    project_root: Path | None,
    initiated_by_run: Run | int | str | None,
) -> None:
    """track() without a store: warn once, record into a spool file, let the script run."""
    from flowprov.core.tracking.environment import environment_file, lock_files
    from flowprov.core.tracking.offline import OfflineRun, reason_of
    from flowprov.core.tracking.recorder import TransformSpec

    t = transform.__dict__
    spec = TransformSpec(
        key=t.get("key") or "unknown",
        name=t.get("name"),
        type=t.get("type") or "script",
        version=t.get("version_tag"),
        source_code=t.get("source_code"),
    )
    locks = lock_files(project_root) if project_root else []
    if locks:  # replayed as paths: their artifacts are made when the run reaches a store
        aux["environment_file_paths"] = [str(p) for p in locks]
    parent = getattr(initiated_by_run, "uid", None) or (initiated_by_run if isinstance(initiated_by_run, str) else None)
    offline = OfflineRun(spec, name=name, params=params, aux=aux, parent_uid=parent or os.environ.get(INITIATED_BY_ENV))
    offline.set_environment(environment_file())
    print(
        f"flowprov: warning: cannot write the run of {spec.key} to the store ({reason_of(exc)}): "
        "recording it to a spool file instead; the script runs as usual",
        file=sys.stderr,
    )
    context.transform, context.run, context._offline = None, None, offline
    context._finished, context._error = False, None
    current_target.set(offline)
    _install_exit_hooks()


def _go_offline(exc: BaseException) -> OfflineRun:
    """The store failed under a running script: carry the same run on into a spool file."""
    from flowprov.core.tracking.offline import OfflineRun, reason_of

    assert context.run is not None
    offline = OfflineRun.continuing(context._facts)
    print(
        f"flowprov: warning: the store failed while recording ({reason_of(exc)}): "
        "the rest of this run goes to a spool file",
        file=sys.stderr,
    )
    context._offline = offline
    current_target.set(offline)
    return offline


def finish(status: str = "completed") -> None:
    """Finish the global run: set `finished_at` and the status (completed unless said otherwise)."""
    from flowprov.core.tracking.offline import store_failures

    with context._lock:
        if context._offline is not None:
            if not context._finished:
                context._finished = True
                context._offline.finish(status, context._error)
            return
        run = context.run
        if run is None:
            from flowprov.core.exceptions import TrackNotCalled

            raise TrackNotCalled("Please run `ln.track()` before `ln.finish()`: no run is being tracked")
        if context._finished:
            return
        if run.id is None:  # the tracked run was deleted for good (delete(permanent=True)): nothing to finish
            context._finished = True
            return
        run.finished_at = utcnow()
        run.status = status
        if context._error:
            run.aux = {**(run.aux or {}), **context._error}
        try:
            run.save()
        except store_failures() as exc:
            context._finished = True
            _go_offline(exc).finish(status, context._error)
            return
        context._finished = True
        notify([run.id])


class _ImmediateTarget:
    """track_input/track_output for a script: register and link at once."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def add_input(self, item: Any, key: str | None = None) -> Artifact | FileSpec:
        from flowprov.core.tracking.offline import store_failures

        try:
            artifact = _as_artifact(item, key, run=False)
            self.run.input_artifacts.add(artifact)
        except store_failures() as exc:  # recording never breaks the script: go on offline
            return _go_offline(exc).add_input(item, key)
        return artifact

    def add_output(self, item: Any, key: str | None = None) -> Artifact | FileSpec:
        from flowprov.core.tracking.offline import store_failures

        # A new artifact saved with the run is linked as its output at this path (also when the
        # bytes were stored before: their first creator keeps Artifact.run).
        try:
            artifact = _as_artifact(item, key, run=self.run)
            if isinstance(item, type(artifact)):
                self.run.output_artifacts.add(artifact)
        except store_failures() as exc:
            return _go_offline(exc).add_output(item, key)
        return artifact


def _as_artifact(item: Any, key: str | None, run: Run | Literal[False]) -> Artifact:
    from flowprov.core.registry import Artifact

    if isinstance(item, Artifact):
        return item if item.id is not None else item.save()
    path = as_path(item)
    if path is None:
        raise TypeError(f"expected a path or an Artifact, got {type(item).__name__}")
    return Artifact(path, key=key, run=run).save()


def track_input(item: Any, key: str | None = None) -> Any:
    """Record a file, directory or Artifact as an input of the current run (script, flow or task)."""
    target = find_target()
    if target is None:
        raise RuntimeError(
            "flowprov.track_input(): no run is being recorded here; call flowprov.track() or run inside a tracked flow"
        )
    return target.add_input(item, key)


def track_output(item: Any, key: str | None = None) -> Any:
    """Record a file, directory or Artifact as an output of the current run (script, flow or task)."""
    target = find_target()
    if target is None:
        raise RuntimeError(
            "flowprov.track_output(): no run is being recorded here; call flowprov.track() or run inside a tracked flow"
        )
    return target.add_output(item, key)


def current_run() -> Run | None:
    """The run `track()` started in this process, while it is not finished."""
    run = context.run if _is_recording() else None
    return run if run is None or run.id is not None else None  # a run deleted for good owns nothing new


# -- exit handling -------------------------------------------------------------------------------


def _is_recording() -> bool:
    """A tracked run, in the store or offline, that has not been finished yet."""
    return (context.run is not None or context._offline is not None) and not context._finished


def _install_exit_hooks() -> None:
    if context._hooks_installed:
        return
    context._hooks_installed = True
    previous_excepthook = sys.excepthook

    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        try:
            status = "aborted" if issubclass(exc_type, KeyboardInterrupt) else "errored"
            context._error = {
                "error": f"{exc_type.__name__}: {exc}",
                "traceback": "".join(traceback.format_exception(exc_type, exc, tb)[-3:]),
            }
            if _is_recording():
                finish(status)
        except Exception as record_error:  # never hide the user's exception behind ours
            print(f"flowprov: error: could not record the failed run: {record_error}", file=sys.stderr)
        previous_excepthook(exc_type, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        previous_term = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            try:
                if _is_recording():
                    context._error = {"error": "terminated by SIGTERM"}
                    finish("aborted")
            except Exception as record_error:
                print(f"flowprov: error: could not record the aborted run: {record_error}", file=sys.stderr)
            if callable(previous_term):
                previous_term(signum, frame)
            else:
                signal.signal(signal.SIGTERM, previous_term if previous_term is not None else signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
    atexit.register(_finish_at_exit)


def _finish_at_exit() -> None:
    try:
        if _is_recording():
            finish("completed")
    except Exception as record_error:
        print(f"flowprov: error: could not finish the run at exit: {record_error}", file=sys.stderr)


def _register_default_run() -> None:
    from flowprov.core.registry import artifact

    artifact.default_run_provider = current_run


_register_default_run()
