"""Django-style queries over flowprov records: lookups, Q objects, QuerySet, lineage."""

from flowprov.core.query.q import Q
from flowprov.core.query.queryset import QuerySet

__all__ = ["Q", "QuerySet"]
