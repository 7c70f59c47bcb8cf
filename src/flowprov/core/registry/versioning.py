"""Version families shared by Transform, Artifact and Collection.

Records of one family share a uid stem; the newest has `is_latest=True`. A new version takes the
next suffix after the family's highest, and the previous head loses `is_latest` in the same
transaction. Families are always loaded whole, so the next suffix is computed without a query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from flowprov.core.uid import SUFFIX_LEN, new_versioned_uid
from flowprov.core.util import chunked

if TYPE_CHECKING:
    from flowprov.core.registry.base import Record

RecordT = TypeVar("RecordT", bound="Record")


def lock_families(session: Session, cls: type[Record], family_keys: list[str]) -> None:
    """Serialise concurrent writers of the same families until the transaction ends.

    SQLite needs nothing (write transactions already run one at a time under BEGIN IMMEDIATE);
    PostgreSQL's READ COMMITTED would let two writers both see "no such record" and both insert.
    Keys are locked in sorted order so two writers never wait on each other in a cycle.
    """
    if session.get_bind().dialect.name != "postgresql" or not family_keys:
        return
    keys = sorted({f"{cls.__tablename__}:{k}" for k in family_keys})
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) AS k"),
        {"keys": keys},
    )


def assign_new_version(record: Any, family: list[Any]) -> list[str]:
    """Give `record` the next uid of `family` (all stored versions, in any order) and make it
    the head; returns the uids of the versions that lose `is_latest`."""
    cls = type(record)
    if not family:
        record.uid = new_versioned_uid(cls._uid_len)
        demoted = []
    else:
        stem = family[0].uid[:-SUFFIX_LEN]
        top = max(f.uid[-SUFFIX_LEN:] for f in family)
        record.uid = new_versioned_uid(cls._uid_len, stem, top)
        demoted = [f.uid for f in family if f.is_latest]
        for f in family:
            f.__dict__["is_latest"] = False
    record.is_latest = True
    family.append(record)
    return demoted


def demote(session: Session, cls: type[Record], uids: list[str]) -> None:
    """Clear `is_latest` of the given versions in the store."""
    for chunk in chunked(uids):
        session.execute(
            update(cls).where(cls.uid.in_(chunk)).values(is_latest=False),
            execution_options={"synchronize_session": False},
        )


class VersionedBatch(Generic[RecordT]):
    """Resolve many new records of one versioned class against the store in a few queries.

    Versioned record classes implement `_family_key()`, `_content_key()`, `_lock_keys()`,
    `_load_candidates(session, records)` and `_match(family, by_content)`; `resolve()` returns,
    per record, the stored record it duplicates (or None, after giving it a new version uid).
    """

    def __init__(self, session: Session, cls: type[RecordT], records: list[RecordT]) -> None:
        self.session = session
        # Any: the hooks above are declared by the versioned classes, not by Record
        self.cls: Any = cls
        self.records: list[Any] = records

    def _stem_family(self, revises: Any) -> list[Any]:
        stem = revises.uid[:-SUFFIX_LEN]
        found = self.session.scalars(select(self.cls).where(self.cls.uid.startswith(stem, autoescape=True)))
        return sorted(found, key=lambda r: r.id)

    def resolve(self) -> list[RecordT | None]:
        cls, session = self.cls, self.session
        stems = [f"stem:{r._revises.uid[:-SUFFIX_LEN]}" for r in self.records if getattr(r, "_revises", None)]
        lock_families(session, cls, [k for r in self.records for k in r._lock_keys()] + stems)
        stored = cls._load_candidates(session, self.records)
        families: dict[str, list[Any]] = {}
        by_content: dict[Any, Any] = {}  # content key -> first stored record with it
        for s in stored:
            families.setdefault(s._family_key(), []).append(s)
            by_content.setdefault(s._content_key(), s)
        result: list[RecordT | None] = []
        demoted: list[str] = []
        for record in self.records:
            revises = getattr(record, "_revises", None)
            if revises is not None:  # lamindb's revises=: the family is revises' uid stem
                family = families.setdefault(f"stem:{revises.uid[:-SUFFIX_LEN]}", self._stem_family(revises))
                existing = same_revision(record, family)
            else:
                family = families.setdefault(record._family_key(), [])
                existing = record._match(family, by_content)
            if existing is not None:
                record._seen_again(existing)
                result.append(existing)
                continue
            demoted += assign_new_version(record, family)
            by_content.setdefault(record._content_key(), record)
            result.append(None)
        batch_uids = {r.uid for r in self.records}
        demote(session, cls, [u for u in demoted if u not in batch_uids])
        from flowprov.core.registry.trash import restore_found  # noqa: PLC0415 (trash imports this module's users)

        restore_found(session, result)  # the same content saved again comes back from the trash
        return result


def check_revises(cls: type, revises: Any) -> Any:
    """lamindb's `revises=` argument: a saved record of the same class, or None."""
    if revises is not None and not isinstance(revises, cls):
        raise TypeError(f"`revises` has to be of type `{cls.__name__}`")
    if revises is not None and getattr(revises, "id", None) is None:
        raise ValueError(f"revises={revises!r}: save the record being revised first")
    return revises


def same_revision(record: Any, family: list[Any]) -> Any:
    """With revises=, only the same source or bytes (a known hash) under the same version is a
    stored version; anything else is the new version the caller asked for."""
    if record.hash is None:
        return None
    for candidate in reversed(family):
        if candidate.hash == record.hash and record.version_tag in (None, candidate.version_tag):
            return candidate
    return None
