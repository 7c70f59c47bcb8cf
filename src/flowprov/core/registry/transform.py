"""Transform: what ran — a pipeline, one of its steps, a script, a notebook or a function.

Identity: a key (path-like; a step's key is `<pipeline key>#<step>`) or, without a key, the name.
The same key with the same source hash is the same record; a different hash (or a different
explicit version) is a new version of the family. A changed source is never silently folded into
an old version.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import UTCDateTime, utcnow
from flowprov.core.hashing import hash_text
from flowprov.core.registry.base import Record
from flowprov.core.registry.links import transform_predecessor
from flowprov.core.registry.managers import RelatedDescriptor
from flowprov.core.registry.trash import InBranch
from flowprov.core.registry.versioning import check_revises
from flowprov.core.util import chunked

TRANSFORM_TYPES = ("pipeline", "step", "script", "notebook", "function")


class Transform(InBranch, Record):
    __tablename__ = "flowprov_transform"
    __table_args__ = (Index("ix_flowprov_transform_key_name", "key", "name"),)
    _uid_len = 16
    _versioned = True
    _init_fields = frozenset({"uid", "hash", "is_latest", "created_by", "space", "created_at", "version_tag"})
    # lamindb 2.x calls the type `kind`: both names work in constructors and filters
    # lamindb 2.x: `version_tag` is the stored label, `version` reads it or the uid's suffix;
    # filters by either name compare the label
    _query_aliases = {"kind": "type", "version": "version_tag"}
    # lookup() without a field: the key, else the name (a transform made with name= only has no key)
    _lookup_fields = ("key", "name")
    _checks = (
        ("type_known", ("type",), lambda t: t in TRANSFORM_TYPES, f"type must be one of {', '.join(TRANSFORM_TYPES)}"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True)
    key: Mapped[str | None] = mapped_column(String(1024))
    name: Mapped[str | None] = mapped_column(String(150))
    description: Mapped[str | None] = mapped_column(Text)
    version_tag: Mapped[str | None] = mapped_column("version", String(64))
    type: Mapped[str] = mapped_column(String(20), default="pipeline")
    hash: Mapped[str | None] = mapped_column(String(22), index=True)
    source_code: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(255))
    reference_type: Mapped[str | None] = mapped_column(String(25))
    is_latest: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_user.id"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_space.id"))

    created_by = relationship("User", foreign_keys=[created_by_id], cascade="")
    space = relationship("Space", foreign_keys=[space_id], cascade="")
    _runs = relationship("Run", viewonly=True)
    _predecessors = relationship(
        "Transform",
        secondary=transform_predecessor,
        primaryjoin="Transform.id == flowprov_transform_predecessor.c.transform_id",
        secondaryjoin="Transform.id == flowprov_transform_predecessor.c.predecessor_id",
        viewonly=True,
    )
    _successors = relationship(
        "Transform",
        secondary=transform_predecessor,
        primaryjoin="Transform.id == flowprov_transform_predecessor.c.predecessor_id",
        secondaryjoin="Transform.id == flowprov_transform_predecessor.c.transform_id",
        viewonly=True,
    )

    _links_successor = relationship(
        "TransformTransform", foreign_keys=[transform_predecessor.c.predecessor_id], viewonly=True
    )
    _links_predecessor = relationship(
        "TransformTransform", foreign_keys=[transform_predecessor.c.transform_id], viewonly=True
    )

    runs = RelatedDescriptor("_runs", doc="Runs of this transform.")
    predecessors = RelatedDescriptor("_predecessors", doc="Transforms whose outputs this one consumes.")
    successors = RelatedDescriptor("_successors", doc="Transforms that consume this one's outputs.")
    links_successor = RelatedDescriptor("_links_successor", doc="The link records to this transform's successors.")
    links_predecessor = RelatedDescriptor("_links_predecessor", doc="The link records to its predecessors.")

    def __new__(cls, *args: Any, **kwargs: Any) -> Transform:
        # lamindb: a transform whose key and source are stored is that record already
        from flowprov.core.registry.construction import stored_transform

        stored = stored_transform(cls, args, kwargs)
        if stored is not None:
            stored.__dict__["_found_at_construction"] = True
            return stored
        return super().__new__(cls)

    def __init__(
        self,
        name: str | None = None,
        key: str | None = None,
        version: str | None = None,
        type: str | None = None,  # noqa: A002 (lamindb's field name)
        reference: str | None = None,
        reference_type: str | None = None,
        description: str | None = None,
        source_code: str | None = None,
        kind: str | None = None,
        revises: Transform | None = None,
        **fields: Any,
    ):
        if self.__dict__.pop("_found_at_construction", False):
            return  # __new__ returned the stored record: keep its values
        self._revises = check_revises(Transform, revises)
        if key is None and revises is not None:
            key = revises.key
        if kind is not None and type is not None and kind != type:
            raise ValueError(f"Transform(type={type!r}, kind={kind!r}): kind is lamindb 2.x's name of type, give one")
        _check_new_transform(key, "kind" if kind is not None else "type", kind or type)
        if name is None:
            if key is None:
                raise TypeError("Transform() needs a name or a key")
            name = key.rstrip("/").rsplit("/", 1)[-1]
        self.__dict__.update(
            name=name,
            key=key,
            version_tag=version if version is not None else fields.pop("version_tag", None),
            type=kind or type or "pipeline",
            reference=reference,
            reference_type=reference_type,
            description=description,
            source_code=source_code,
            hash=hash_text(source_code) if isinstance(source_code, str) else None,
            is_latest=True,
            created_at=utcnow(),
        )
        self._set_fields(fields)

    @classmethod
    def from_path(cls, path: str | os.PathLike, key: str | None = None, **kwargs: Any) -> Transform:
        """A transform whose source is this file (kind from the suffix; unsaved)."""
        from flowprov.core.registry.transform_sources import from_path

        return from_path(cls, path, key=key, **kwargs)

    @classmethod
    def from_git(cls, url: str | os.PathLike, path: str, **kwargs: Any) -> Transform:
        """A transform for `path` in a local git clone at a commit, tag or branch (unsaved)."""
        from flowprov.core.registry.transform_sources import from_git

        return from_git(cls, url, path, **kwargs)

    @property
    def version(self) -> str | None:
        """lamindb 2.x: the version tag, else the uid's 4-character version suffix."""
        if self.version_tag is not None:
            return self.version_tag
        return self.uid[-4:] if self.uid else None

    @version.setter
    def version(self, value: str | None) -> None:
        self.version_tag = value

    @property
    def kind(self) -> str:
        """lamindb 2.x's name of `type`: pipeline, step, script, notebook or function."""
        return self.type

    @kind.setter
    def kind(self, value: str) -> None:
        self.type = value

    def save_base(self, *args: Any, **kwargs: Any) -> Transform:
        """Write the record; a source set after construction (`t.source_code = ...`) gets its hash,
        as in lamindb, so the family's identity and version rules see it."""
        source = self.__dict__.get("source_code")
        if isinstance(source, str) and self.__dict__.get("hash") != hash_text(source):
            self.hash = hash_text(source)
        return super().save_base(*args, **kwargs)

    def clean(self) -> None:
        if self.type not in TRANSFORM_TYPES:
            raise ValidationError({"type": [f"{self.type!r} is not one of {', '.join(TRANSFORM_TYPES)}"]})

    def _family_key(self) -> str:
        return f"key:{self.key}" if self.key is not None else f"name:{self.name}"

    def _lock_keys(self) -> list[str]:
        return [self._family_key()]

    @classmethod
    def _load_candidates(cls, session: Session, records: list[Transform]) -> list[Transform]:
        keys = {r.key for r in records if r.key is not None}
        names = {r.name for r in records if r.key is None}
        found: list[Transform] = []
        for chunk in chunked(keys):
            found += session.scalars(_BY_KEY, {"values": chunk}).all()
        for name_chunk in chunked(names):
            found += session.scalars(_BY_NAME_WITHOUT_KEY, {"values": name_chunk}).all()
        return sorted(found, key=lambda t: t.id)

    def _content_key(self) -> tuple[str | None, str | None, str | None]:
        return (self._family_key(), self.hash, self.version_tag)

    def _match(self, family: list[Transform], by_content: dict[Any, Any]) -> Transform | None:
        """The stored version this transform is, None for a new version; refuses a changed
        source under an existing explicit version."""
        for candidate in reversed(family):
            same_source = candidate.hash == self.hash
            if self.version_tag is not None and candidate.version_tag == self.version_tag:
                if same_source or self.hash is None:
                    return candidate
                raise version_taken(self.version_tag)
            if self.version_tag is None and same_source:
                return candidate
        return None


class TransformTransform(Record):
    """A predecessor -> successor link with its `config` (lamindb's link record): made by
    `predecessor.successors.add(t, through_defaults={"config": {...}})` or saved directly."""

    __table__ = transform_predecessor
    _init_fields = frozenset({"predecessor", "successor", "predecessor_id", "successor_id", "config"})

    successor_id = transform_predecessor.c.transform_id
    predecessor = relationship("Transform", foreign_keys=[transform_predecessor.c.predecessor_id], cascade="")
    successor = relationship("Transform", foreign_keys=[transform_predecessor.c.transform_id], cascade="")

    def __init__(self, *args: Any, **fields: Any) -> None:
        if args:
            raise ValueError("TransformTransform() takes keyword arguments: predecessor=, successor=, config=")
        self._set_fields(fields)

    def clean(self) -> None:
        for side in ("predecessor", "successor"):
            if self.__dict__.get(side) is None and self.__dict__.get(f"{side}_id") is None:
                raise ValidationError({side: [f"a link needs a {side}"]})


def version_taken(version: str) -> ValueError:
    """lamindb's words for an explicit version that a different source of the family holds."""
    return ValueError(f"Please change the version tag or leave it `None`, {version!r} is already taken")


def _check_new_transform(key: str | None, label: str, kind: str | None) -> None:
    """lamindb's checks at construction: no '..' in the key, a known kind."""
    if key is not None and ".." in key.split("/"):
        raise ValueError(f"Transform key {key!r}: '..' is not allowed in a key")
    if kind is not None and kind not in TRANSFORM_TYPES:
        raise ValidationError({label: [f"{kind!r} is not one of {', '.join(TRANSFORM_TYPES)}"]})


_BY_KEY = select(Transform).where(Transform.key.in_(bindparam("values", expanding=True)))
_BY_NAME_WITHOUT_KEY = select(Transform).where(
    Transform.key.is_(None), Transform.name.in_(bindparam("values", expanding=True))
)
