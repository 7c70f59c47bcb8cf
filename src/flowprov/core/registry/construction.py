"""Record identity at construction, as lamindb has it: `Transform(key=..., source_code=...)` whose
key and source hash are stored already *is* the stored record, before any `save()`.

Looked up only when a store is already the current one (constructing never opens or creates a
store) and never in the trash (lamindb: a trashed transform is not recovered by construction;
saving the same source again restores it, see registry/trash.py). Write paths that build many
records for one named store (the Recorder) switch the look-up off with `no_construction_lookup()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

_ENABLED: ContextVar[bool] = ContextVar("flowprov_construction_lookup", default=True)


@contextmanager
def no_construction_lookup() -> Iterator[None]:
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def stored_transform(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The stored, non-trashed transform that `cls(*args, **kwargs)` would be on save, or None."""
    if not _ENABLED.get() or not kwargs or kwargs.get("revises") is not None or "uid" in kwargs:
        return None
    key, name = kwargs.get("key"), args[0] if args else kwargs.get("name")
    if key is None and name is None:
        return None
    from flowprov.core.exceptions import FlowprovError
    from flowprov.core.hashing import hash_text
    from flowprov.core.registry.transform import version_taken
    from flowprov.core.store import connection

    store = connection._current
    if store is None:
        return None
    source = kwargs.get("source_code")
    probe = SimpleNamespace(
        key=key,
        name=name,
        version_tag=kwargs.get("version", kwargs.get("version_tag")),
        hash=hash_text(source) if isinstance(source, str) else None,
    )
    where = [cls.key == key] if key is not None else [cls.key.is_(None), cls.name == name]
    try:
        family = list(store.session.scalars(select(cls).where(*where, cls.branch_id != -1).order_by(cls.id)))
        if probe.version_tag is not None and probe.hash is None and _tag_has_source(family, probe.version_tag):
            taken = version_taken(probe.version_tag)  # lamindb: a tag whose source is saved is taken
        else:
            return cls._match(probe, family, {}) if family else None
    except (FlowprovError, OSError, ValueError):
        return None  # an unreachable store or a refused version: save() reports it
    except Exception as exc:  # a database error: the same, reported by save()
        if type(exc).__module__.startswith("sqlalchemy"):
            return None
        raise
    finally:
        store.release()
    raise taken


def _tag_has_source(family: list[Any], version: str) -> bool:
    return any(t.version_tag == version and t.hash is not None for t in family)
