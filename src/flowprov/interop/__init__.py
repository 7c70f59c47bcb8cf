"""Interoperability: export runs to OpenLineage, Workflow Run RO-Crate and W3C PROV, and import them.

    import flowprov.interop as interop
    interop.export("5477e033-...", "ro-crate", "crate/")          # a run (uid or reference) and its child runs
    interop.export("results/summary.txt", "prov-json", "out.json", depth=2)   # a file and its upstream lineage

    interop.import_("events.jsonl")                               # OpenLineage, a crate or PROV-JSON back in

One module per format (`openlineage`, `rocrate`, `prov`); `selection` decides what is exported.
Nothing here is imported by `import flowprov`; each format loads its library when used.
"""

from __future__ import annotations

from flowprov.interop.api import FORMATS, export, export_text, import_

__all__ = ["FORMATS", "export", "export_text", "import_"]
