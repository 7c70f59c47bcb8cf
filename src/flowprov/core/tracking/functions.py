"""`@ln.flow()` and `@ln.step()`: lamindb's way to track Python functions.

    @ln.flow()                  # each call is a run of the function's transform (kind "function")
    def pipeline(n: int) -> str: ...

    @ln.step()                  # inside a flow or a track()ed script: a child run of that run
    def chunk(i: int) -> str: ...

The call's arguments become the run's params (an argument that does not match its annotation is
left out, records are named `Artifact[uid]`), artifacts saved inside the call are the run's outputs,
and the run ends completed or, when the function raises, errored (the exception goes on unchanged).
A flow's stdout and stderr are captured while it runs (and still printed); when the flow raises,
they become the run's report (`run.report`, a text file in the store's default storage location,
as lamindb uploads a failed flow's log streams).
A step's run lives in a ContextVar, so steps running in threads each get their own run.
Recording never changes the function's result: a store failure is one `flowprov: error:` line.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import sys
import threading
import typing
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from flowprov.core.fieldtypes import utcnow
from flowprov.core.tracking.offline import report_failure, store_failures

F = TypeVar("F", bound=Callable[..., Any])

_step_run: ContextVar[Any] = ContextVar("flowprov_step_run", default=None)
GLOBAL_RUN_MODES = ("memorize", "clear")


def flow(uid: str | None = None, global_run: str = "memorize", **_lamindb_options: Any) -> Callable[[F], F]:
    """Track each call of the function as a run (lamindb's `@ln.flow()`); `global_run="clear"`
    leaves no global run behind after the call."""
    if global_run not in GLOBAL_RUN_MODES:
        raise ValueError(f"@flow(global_run={global_run!r}): use one of {', '.join(GLOBAL_RUN_MODES)}")

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flowprov.core.tracking.context import context

            if context.run is not None and not context._finished:
                raise RuntimeError(
                    "Please use @ln.step() or clear the global run context before using @ln.flow(): "
                    "no `ln.track()` or `@ln.flow(global_run='clear')` may be active"
                )
            run = _start(func, args, kwargs, parent=None)
            _install_provider()
            if run is not None:
                context.run, context.transform, context._finished = run, run.transform, False
            streams = _Streams() if run is not None else None
            try:
                with streams or contextlib.nullcontext():
                    result = func(*args, **kwargs)
            except BaseException:
                _end(run, "errored", streams)
                _leave_global(run, global_run)
                raise
            _end(run, "completed")
            _leave_global(run, global_run)
            return result

        return typing.cast(F, wrapper)

    return decorate


def step(uid: str | None = None, **_lamindb_options: Any) -> Callable[[F], F]:
    """Track each call as a child run of the current run (lamindb's `@ln.step()`)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            parent = _step_run.get() or _global_run()
            if parent is None:
                raise RuntimeError(
                    "Please track the global run context before using @ln.step(): ln.track() or @ln.flow()"
                )
            run = _start(func, args, kwargs, parent=parent)
            _install_provider()
            token = _step_run.set(run if run is not None else parent)
            try:
                result = func(*args, **kwargs)
            except BaseException:
                _end(run, "errored")
                raise
            finally:
                _step_run.reset(token)
            _end(run, "completed")
            return result

        return typing.cast(F, wrapper)

    return decorate


def _global_run() -> Any:
    from flowprov.core.tracking.context import current_run

    return current_run()


def _current_function_run() -> Any:
    """The run artifacts saved now belong to: the innermost step, else the global run."""
    return _step_run.get() or _global_run()


def _install_provider() -> None:
    from flowprov.core.registry import artifact

    artifact.default_run_provider = _current_function_run


def _start(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], parent: Any) -> Any:
    """Save the function's transform and a started run; None (and one stderr line) if the store fails."""
    from flowprov.core.registry import Run, Transform

    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        source = None
    key = f"{func.__module__}:{func.__qualname__}"
    try:
        transform = Transform(key=key, name=func.__name__, kind="function", source_code=source).save()
        run = Run(transform, params=call_params(func, args, kwargs))
        if parent is not None:  # by id: a step in a worker thread has its own session
            run.initiated_by_run_id = parent.id
        return run.save()
    except store_failures() as exc:
        report_failure(f"the run of {key}", exc)
        return None


class _Streams:
    """Copies what is written to stdout and stderr while a flow runs (still writing it through).
    One pair of tees serves every flow running at once (threads): installed by the first, removed
    by the last, so flows ending in any order leave the original streams behind."""

    _lock = threading.Lock()
    _active: list[io.StringIO] = []
    _saved: tuple[Any, Any] = (None, None)

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def __enter__(self) -> _Streams:
        with _Streams._lock:
            if not _Streams._active:
                _Streams._saved = sys.stdout, sys.stderr
                sys.stdout = typing.cast(typing.TextIO, _Tee(sys.stdout))
                sys.stderr = typing.cast(typing.TextIO, _Tee(sys.stderr))
            _Streams._active.append(self.buffer)
        return self

    def __exit__(self, *exc: object) -> None:
        with _Streams._lock:
            _Streams._active.remove(self.buffer)
            if not _Streams._active:
                for name, saved in zip(("stdout", "stderr"), _Streams._saved, strict=True):
                    if isinstance(getattr(sys, name), _Tee):  # not replaced by someone else since
                        setattr(sys, name, saved)


class _Tee:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        for buffer in list(_Streams._active):
            buffer.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ... of the real stream
        return getattr(self.stream, name)


def _save_report(run: Any, text: str) -> None:
    """The captured streams as the run's report: a text file in the default storage location."""
    from flowprov.core.registry import Artifact
    from flowprov.core.registry.artifact_create import default_storage

    folder = Path(default_storage(run._target_store(None)).root) / "run_logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run_logs_{run.uid}.txt"
    path.write_text(text)
    run.report = Artifact(path, description=f"log streams of run {run.uid}", kind="__lamindb_run__", run=False).save()


def _end(run: Any, status: str, streams: _Streams | None = None) -> None:
    if run is None:
        return
    if streams is not None:
        try:
            _save_report(run, streams.buffer.getvalue())
        except store_failures() as exc:  # the run's end is recorded all the same
            report_failure(f"the report of run {run.uid}", exc)
    try:
        run.finished_at = utcnow()
        run.status = status
        run.save()
    except store_failures() as exc:
        report_failure(f"the end of run {run.uid}", exc)


def _leave_global(run: Any, global_run: str) -> None:
    from flowprov.core.tracking.context import context

    if run is None:
        return
    context._finished = True
    if global_run == "clear":
        context.run = context.transform = None


def call_params(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments as params: records by name and uid, values that contradict their
    annotation left out (lamindb does the same), values JSON cannot hold as their repr."""
    signature = inspect.signature(func)
    bound = signature.bind_partial(*args, **kwargs)
    bound.apply_defaults()
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an annotation that does not evaluate: check none
        hints = {}
    params: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if not _matches(value, hints.get(name)):
            continue
        params[name] = _param_value(value)
    return params


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is None or annotation is Any or not isinstance(annotation, type):
        return True  # generic or absent annotations are not checked
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, annotation)


def _param_value(value: Any) -> Any:
    from flowprov.core.registry.base import Record

    if isinstance(value, Record):
        return f"{type(value).__name__}[{value.uid}]"
    if isinstance(value, (list, tuple)) or type(value).__name__ == "QuerySet":
        items = list(value)
        if items and all(isinstance(v, Record) for v in items):
            return [f"{type(v).__name__}[{v.uid}]" for v in items]
        return [_param_value(v) for v in items]
    if value is None or isinstance(value, (str, int, float, bool, dict)):
        return value
    return str(value)
