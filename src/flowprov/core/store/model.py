"""The declarative base the record classes map onto: one MetaData, with flowprov's naming convention.

It lives in the store layer, below the query layer and the registry, so that the query layer can
type its models and the migrations can name the metadata without importing the record classes;
the registry's `Record` subclasses it (abstract), and each record class adds its table to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase, Mapped

# Constraint and index names as the migrations (0001) create them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(DeclarativeBase):
    """What every mapped record class is to the query layer: a mapped class with an id and a uid."""

    metadata = MetaData(naming_convention=NAMING)

    if TYPE_CHECKING:
        # Every record class maps id and uid (an unsaved record's id is None); subclasses declare
        # the real columns (mapped_column), which SQLAlchemy needs. Each maps one Table
        # (DeclarativeBase types __table__ as any FromClause).
        __table__: ClassVar[Table]
        id: Mapped[int | None]
        uid: Mapped[str]

    @classmethod
    def _delete_ids(cls, store: Any, ids: list[Any], permanent: bool | None) -> int:
        """Delete (or trash) the rows with these ids: what `QuerySet.delete()` does to the rows it
        matched. The registry's records implement it (trash rules live a layer above this one)."""
        raise NotImplementedError(f"{cls.__name__} records cannot be deleted through a query")
