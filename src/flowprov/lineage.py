"""`flowprov.lineage.upstream(record)` / `downstream(record)`: see flowprov.core.query.lineage."""

from flowprov.core.query.lineage import Lineage, downstream, upstream

__all__ = ["Lineage", "downstream", "upstream"]
