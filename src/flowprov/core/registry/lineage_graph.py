"""The result of a lineage walk and its text forms (tree, Mermaid, Graphviz dot, JSON).

An artifact appears once per location the walk met it at: files with equal bytes (empty markers,
identical logs) are one artifact record but different nodes, so a tree never merges two files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _shown(uri: str) -> str:
    """A location for people: relative to the working directory when it is under it."""
    import os
    from urllib.parse import unquote, urlparse

    if not uri.startswith("file://"):
        return uri
    path = unquote(urlparse(uri).path)
    here = os.getcwd()
    return os.path.relpath(path, here) if path.startswith(here + os.sep) else path


@dataclass
class Lineage:
    """The records reached from `root` and the edges between them (input -> run -> output)."""

    root: Any
    direction: str
    runs: list = field(default_factory=list)
    artifacts: list = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (from uid, to uid)
    collections: list = field(default_factory=list)
    # (from uid, to uid, location): where each read or write happened ("" when unknown)
    located_edges: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # where the walk used content instead of location
    start_run: Any = None  # upstream of an artifact: the run that wrote it (at `path`)
    path: str | None = None  # the location the walk started from (artifact roots)

    @staticmethod
    def artifact_label(a: Any, path: str = "") -> str:
        uri = a.uri if hasattr(a, "uri") else a.path  # a record, or a plain row
        return (a.key or (path or uri or "").rsplit("/", 1)[-1] or a.uid).replace('"', "'")

    @staticmethod
    def run_label(r: Any) -> str:
        return (r.name or r.transform.name or r.uid).replace('"', "'")

    def _nodes(self) -> dict[tuple[str, str], tuple[str, str, str]]:
        """(uid, location) -> (node id, label, kind) for every node, artifacts once per location."""
        artifacts = {a.uid: a for a in self.artifacts}
        nodes: dict[tuple[str, str], tuple[str, str, str]] = {}
        for r in self.runs:
            nodes[(r.uid, "")] = (f"n{r.uid}", self.run_label(r), "run")
        for c in self.collections:
            nodes[(c.uid, "")] = (f"n{c.uid}", (c.key or c.uid).replace('"', "'"), "collection")
        places = sorted({(u, p) for s, d, p in self.located_edges for u in (s, d) if u in artifacts})
        if self.root.uid in artifacts:
            places.append((self.root.uid, self.path or ""))
        met: dict[str, int] = {}
        for u, p in dict.fromkeys(places):
            if (u, p) not in nodes:  # the first location of an artifact is n<uid>, further ones n<uid>_<k>
                k = met[u] = met.get(u, -1) + 1
                nodes[(u, p)] = (f"n{u}" + (f"_{k}" if k else ""), self.artifact_label(artifacts[u], p), "artifact")
        placed = {k[0] for k in nodes}
        for a in self.artifacts:  # met without a location
            if a.uid not in placed:
                nodes[(a.uid, "")] = (f"n{a.uid}", self.artifact_label(a), "artifact")
        return nodes

    def _node_edges(self, nodes: dict) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        out = []
        for s, d, p in self.located_edges:
            src = (s, p) if (s, p) in nodes else (s, "")
            dst = (d, p) if (d, p) in nodes else (d, "")
            if src in nodes and dst in nodes:
                out.append((src, dst))
        return sorted(set(out))

    def to_mermaid(self) -> str:
        nodes = self._nodes()
        shapes = {"artifact": '["{}"]', "run": '(["{}"])', "collection": '[("{}")]'}
        lines = ["flowchart TD"]
        lines += [f"    {i}{shapes[kind].format(label)}" for i, label, kind in nodes.values()]
        lines += [f"    {nodes[s][0]} --> {nodes[d][0]}" for s, d in self._node_edges(nodes)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_mermaid()

    def to_dot(self) -> str:
        nodes = self._nodes()
        shapes = {"artifact": "box", "run": "ellipse", "collection": "folder"}
        lines = ["digraph lineage {", "  rankdir=TB;"]
        lines += [f'  "{i[1:]}" [shape={shapes[kind]}, label="{label}"];' for i, label, kind in nodes.values()]
        lines += [f'  "{nodes[s][0][1:]}" -> "{nodes[d][0][1:]}";' for s, d in self._node_edges(nodes)]
        lines.append("}")
        return "\n".join(lines)

    def to_tree(self) -> str:
        """An indented text tree from the root, following the walk's direction."""
        nodes = self._nodes()
        runs = {r.uid: r for r in self.runs}
        names = {
            key: f"{kind} {key[0]} {_shown(key[1]) if kind == 'artifact' and key[1] else label}"
            + (f" [{runs[key[0]].status}]" if kind == "run" and key[0] in runs else "")
            for key, (_, label, kind) in nodes.items()
        }
        children: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for src, dst in self._node_edges(nodes):
            parent, child = (dst, src) if self.direction == "upstream" else (src, dst)
            children.setdefault(parent, []).append(child)
        lines: list[str] = []

        def visit(key: tuple[str, str], indent: int, seen: frozenset) -> None:
            lines.append("  " * indent + names.get(key, key[0]) + (" (seen above)" if key in seen else ""))
            if key in seen:
                return
            for child in sorted(children.get(key, [])):
                visit(child, indent + 1, seen | {key})

        root = (self.root.uid, self.path or "") if (self.root.uid, self.path or "") in nodes else (self.root.uid, "")
        if root not in nodes:  # an artifact root met only at other locations
            root = next((k for k in nodes if k[0] == self.root.uid), root)
        visit(root, 0, frozenset())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: records as `flowprov show` describes them, edges with their locations."""
        from flowprov.core.registry.describe import describe_artifact, describe_run_row

        return {
            "root": self.root.uid,
            "direction": self.direction,
            "path": self.path,
            "start_run": self.start_run.uid if self.start_run is not None else None,
            "notes": self.notes,
            "runs": [describe_run_row(r) for r in self.runs],
            "artifacts": [describe_artifact(a) for a in self.artifacts],
            "collections": [{"uid": c.uid, "key": c.key, "hash": c.hash} for c in self.collections],
            "edges": [{"from": s, "to": d, "path": p or None} for s, d, p in self.located_edges],
        }

    def _repr_markdown_(self) -> str:
        return "```mermaid\n" + self.to_mermaid() + "\n```"

    def _repr_svg_(self) -> str | None:
        try:
            import graphviz
        except ImportError:
            return None
        try:
            return graphviz.Source(self.to_dot()).pipe(format="svg").decode()
        except Exception:  # the Python package without the dot executable
            return None
