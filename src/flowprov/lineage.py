"""`flowprov.lineage.upstream(record)` / `downstream(record)` / `of_path(path)`: see flowprov.core.query.lineage
and flowprov.core.query.locate (where the lineage of a file starts)."""

from flowprov.core.query.lineage import Lineage, downstream, upstream
from flowprov.core.query.locate import Start, locate, of_path

__all__ = ["Lineage", "Start", "downstream", "locate", "of_path", "upstream"]
