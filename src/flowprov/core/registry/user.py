"""User: who created a record. The current user comes from the OS login (or FLOWPROV_USER)."""

from __future__ import annotations

import functools
import getpass
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import UTCDateTime, utcnow
from flowprov.core.registry.base import Record
from flowprov.core.uid import base62

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store


class User(Record):
    __tablename__ = "flowprov_user"
    _uid_len = 8
    _init_fields = frozenset({"handle", "name", "uid"})

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(8), unique=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str | None] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __init__(self, *args: Any, handle: str | None = None, name: str | None = None, **fields: Any) -> None:
        if args:  # lamindb: records take keyword arguments only
            raise ValidationError("Use keyword arguments instead of positional arguments, e.g.: User(name='...')")
        if handle is None:
            raise TypeError("User() needs a handle: User(handle='...')")
        self.uid = base62(8)
        self.handle = handle
        self.name = name
        self._set_fields(fields)


def current_handle() -> str:
    handle = os.environ.get("FLOWPROV_USER")
    return handle if handle else _os_login()


@functools.cache
def _os_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def known_user_id(store: Store) -> int | None:
    """The current user's id when this process has looked it up in the store already."""
    cache: dict[str, int] = store.__dict__.get("_user_ids", {})
    return cache.get(current_handle())


def current_user_id(session: Session, store: Store) -> int:
    """The id of the current user's record, created on first write (race-free on both stores)."""
    handle = current_handle()
    cache: dict[str, int] = store.__dict__.setdefault("_user_ids", {})
    if handle in cache:
        return cache[handle]
    from flowprov.core.registry.managers import insert_ignore

    user_id = session.execute(select(User.id).where(User.handle == handle)).scalar()
    if user_id is None:
        insert_ignore(
            session, User.__table__, [{"uid": base62(8), "handle": handle, "name": None, "created_at": utcnow()}]
        )
        user_id = session.execute(select(User.id).where(User.handle == handle)).scalar_one()
    cache[handle] = user_id
    return user_id
