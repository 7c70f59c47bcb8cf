"""Storage: roots that artifacts live under (a directory, a bucket). Artifacts stay in place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import UTCDateTime, utcnow
from flowprov.core.registry.base import Record
from flowprov.core.uid import base62


class Storage(Record):
    __tablename__ = "flowprov_storage"
    _uid_len = 12
    _init_fields = frozenset({"root", "description", "type", "region", "uid", "space", "created_by"})

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(12), unique=True)
    root: Mapped[str] = mapped_column(String(767), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(30), default="local")
    region: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_user.id"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_space.id"))

    created_by = relationship("User", foreign_keys=[created_by_id], cascade="")
    space = relationship("Space", foreign_keys=[space_id], cascade="")

    def __init__(self, root: str, description: str | None = None, type: str = "local", **fields: Any) -> None:  # noqa: A002 (lamindb's field name)
        self.uid = base62(12)
        self.root = root
        self.description = description
        self.type = type
        self._set_fields(fields)

    def save(self, *args: Any, **kwargs: Any) -> Storage:
        """Save; a root that is stored already returns the stored record (lamindb), also when
        several threads or processes save the same root at once."""
        if self.id is not None:
            return super().save(*args, **kwargs)
        store = self._target_store(kwargs.get("using"))
        stored = Storage.using(store).filter(root=self.root).first()
        if stored is not None:
            return stored
        try:
            return super().save(*args, **kwargs)
        except ValidationError:
            stored = Storage.using(store).filter(root=self.root).first()
            if stored is None:
                raise
            return stored
