"""Version families shared by Transform, Artifact and Collection.

Records of one family share a uid stem; the newest has `is_latest=True`. A new version takes the
next suffix after the family's highest, and the previous head loses `is_latest` in the same
transaction.
"""

from __future__ import annotations

from sqlalchemy import select, text, update

from flowprov.core.uid import SUFFIX_LEN, new_versioned_uid


def lock_family(session, cls: type, family_key: str) -> None:
    """Serialise concurrent writers of one family until the transaction ends.

    SQLite needs nothing (write transactions already run one at a time under BEGIN IMMEDIATE);
    PostgreSQL's READ COMMITTED would let two writers both see "no such record" and both insert.
    """
    if session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"{cls.__tablename__}:{family_key}"})


def start_new_version(session, record, family: list) -> None:
    """Give `record` a uid in `family` (stored records of one family, possibly empty)."""
    cls = type(record)
    if not family:
        record.uid = new_versioned_uid(cls._uid_len)
    else:
        stem = family[0].uid[:-SUFFIX_LEN]
        top = session.execute(select(cls.uid).where(cls.uid.startswith(stem, autoescape=True)).order_by(cls.uid.desc()).limit(1)).scalar()
        record.uid = new_versioned_uid(cls._uid_len, stem, top[-SUFFIX_LEN:])
        session.execute(
            update(cls).where(cls.uid.startswith(stem, autoescape=True), cls.is_latest.is_(True)).values(is_latest=False),
            execution_options={"synchronize_session": False},
        )
        for obj in session.identity_map.values():
            if isinstance(obj, cls) and obj.uid and obj.uid.startswith(stem):
                obj.__dict__["is_latest"] = False
    record.is_latest = True
