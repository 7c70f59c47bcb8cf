"""Space: a minimal registry of access scopes. Every store has the default space "all" (id 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flowprov.core.fieldtypes import UTCDateTime, utcnow
from flowprov.core.registry.base import Record
from flowprov.core.uid import base62


class Space(Record):
    __tablename__ = "flowprov_space"
    _uid_len = 12
    _init_fields = frozenset({"name", "description", "uid"})

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __init__(self, name: str, description: str | None = None, **fields: Any) -> None:
        self.uid = base62(12)
        self.name = name
        self.description = description
        self._set_fields(fields)
