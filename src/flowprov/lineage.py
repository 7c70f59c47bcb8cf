"""`flowprov.lineage.upstream(record)` / `downstream(record)` / `of_path(path)`: see
flowprov.core.registry.lineage (records, and where the lineage of a file starts) and
flowprov.core.query.lineage (the walk over the link tables, by ids)."""

from flowprov.core.registry.lineage import Lineage, Start, downstream, locate, of_path, upstream

__all__ = ["Lineage", "Start", "downstream", "locate", "of_path", "upstream"]
