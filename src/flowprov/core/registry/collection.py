"""Collection: an ordered set of artifacts with a key, a hash and the run that created it.

The hash covers the set of member hashes and ignores their order (as lamindb's does): the same
members in another order are the same collection. The order given at registration is kept and
`collection.artifacts.all()` returns the members in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from flowprov.core.exceptions import ValidationError
from flowprov.core.fieldtypes import UTCDateTime, utcnow
from flowprov.core.hashing import hash_from_hashes
from flowprov.core.registry import artifact as artifact_module
from flowprov.core.registry.base import Record
from flowprov.core.registry.links import collection_artifact, run_input_collection
from flowprov.core.registry.managers import RelatedDescriptor, insert_ignore
from flowprov.core.registry.trash import InBranch
from flowprov.core.registry.versioning import check_revises
from flowprov.core.uid import new_versioned_uid
from flowprov.core.util import chunked


class Collection(InBranch, Record):
    __tablename__ = "flowprov_collection"
    _uid_len = 20
    _versioned = True
    _init_fields = frozenset({"uid", "is_latest", "created_by", "space", "created_at", "version", "version_tag"})
    _query_aliases = {"version_tag": "version"}  # lamindb 2.x's name

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    key: Mapped[str] = mapped_column(String(1024), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    hash: Mapped[str | None] = mapped_column(String(22), index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    is_latest: Mapped[bool] = mapped_column(default=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_run.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_user.id"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_space.id"))

    run = relationship("Run", foreign_keys=[run_id], cascade="")
    created_by = relationship("User", foreign_keys=[created_by_id], cascade="")
    space = relationship("Space", foreign_keys=[space_id], cascade="")
    _artifacts = relationship("Artifact", secondary=collection_artifact, viewonly=True)
    _input_of_runs = relationship("Run", secondary=run_input_collection, viewonly=True)

    artifacts = RelatedDescriptor("_artifacts", order_column="position", doc="Member artifacts, in registration order.")

    @property
    def ordered_artifacts(self) -> Any:
        """lamindb's name: the members in registration order (a QuerySet; the trash left out)."""
        return self.artifacts.all()

    input_of_runs = RelatedDescriptor("_input_of_runs", doc="Runs that read this collection.")

    def __init__(
        self,
        artifacts: Any,
        key: str | None = None,
        description: str | None = None,
        run: Any = None,
        revises: Collection | None = None,
        **fields: Any,
    ):
        from flowprov.core.registry.artifact import Artifact

        self._revises = check_revises(Collection, revises)
        if key is None:
            if revises is None:
                raise TypeError("Collection() needs a key (or revises= a stored collection)")
            key = revises.key

        members = [artifacts] if isinstance(artifacts, Artifact) else list(artifacts)
        if not members:
            raise ValidationError({"artifacts": ["a collection needs at least one artifact"]})
        for member in members:
            if not isinstance(member, Artifact):
                raise TypeError(f"Collection(artifacts): expected Artifact records, got {type(member).__name__}")
            if member.hash is None:
                raise ValidationError({"artifacts": [f"{member!r} has no content hash"]})
        self._members = members
        self.uid = new_versioned_uid(20)
        self.key = key
        self.description = description
        self.hash = hash_from_hashes([m.hash for m in members if m.hash is not None])
        self.is_latest = True
        self.created_at = utcnow()
        if run is None and artifact_module.default_run_provider is not None:
            run = artifact_module.default_run_provider()
        if run is not None and run is not False:
            self.__dict__["run"] = run
        self._set_fields(fields)

    def _family_key(self) -> str:
        return self.key

    def _lock_keys(self) -> list[str]:
        return [self.key]

    @classmethod
    def _load_candidates(cls, session: Session, records: list[Collection]) -> list[Collection]:
        found: list[Collection] = []
        for chunk in chunked({r.key for r in records}):
            found += session.scalars(select(cls).where(cls.key.in_(chunk))).all()
        return sorted(found, key=lambda c: c.id)

    def _content_key(self) -> tuple[str, str | None]:
        return (self.key, self.hash)

    def _match(self, family: list[Collection], by_content: dict[Any, Any]) -> Collection | None:
        return by_content.get(self._content_key())

    def _save_members(self, session: Session) -> None:
        rows = [
            {"collection_id": self.id, "artifact_id": m.id, "position": i}
            for i, m in enumerate(getattr(self, "_members", []))
        ]
        insert_ignore(session, collection_artifact, rows)

    def save_base(self, *args: Any, **kwargs: Any) -> Collection:
        store = self._target_store(kwargs.get("using"))
        unsaved = [m for m in getattr(self, "_members", []) if m.id is None]
        if unsaved:
            raise ValidationError(
                {
                    "artifacts": [
                        f"{len(unsaved)} member artifact(s) are not saved; save them first (e.g. ln.save(artifacts))"
                    ]
                }
            )
        with store.transaction() as session:
            saved = super().save_base(*args, **kwargs)
            if saved is self:
                self._save_members(session)
        return saved
