"""RunDiff: the structured result of `flowprov.diff(a, b)`.

`to_dict()` is the stable JSON form (schema below, `schema_version` 1); `text()`, `markdown()` and
`_repr_html_()` render it. The JSON schema:

    {"schema_version": 1, "changed": bool,
     "a": RUN, "b": RUN,              # uid, name, reference, reference_type, status, started_at, transform{...}
     "layers": {                      # in this order; without all=True only the layers that differ
       "transform":   {"changed", "entries": [{"field", "change", "a", "b"}], "source_diff": str|null},
       "params":      {"changed", "entries": [{"path", "change", "a", "b", "delta"?}]},
       "environment": {"changed", "environment": {"field", "change", "a", "b"}, "packages_unreadable": bool,
                       "entries": [{"package", "change", "a", "b"}], "lock_files": [FILE]},
       "files":       {"changed", "inputs": [FILE], "outputs": [FILE]},
       "children":    {"changed", "counts": {change: n, "rerun": n, "cached": n},
                       "source_diffs": {step transform key: unified diff},
                       "entries": [{"key", "step", "name", "change", "a", "b", "rerun", "differences",
                                    "params", "code": {"what": source|command_sh, "a", "b", "diff"}|null,
                                    "inputs": [FILE], "outputs": [FILE]}]},
       "facts":       {"changed", "entries": [{"field", "change", "a", "b"}], "info": [...],
                       "metrics": [{"step", "metric", "a", "b", "ratio"}], "metrics_threshold"}},
     "why": [{"output", "causes": [str], "chains": [{"text", "cause", "nodes": [{"kind", "name", "text"}]}]}]}

    FILE = {"name", "change": same|changed|added|removed, "a": {uid, hash, size, path}|null, "b": ...,
            "text_diff": str|null (changed only)}

`change` is one of same, changed, added, removed (packages: upgraded, downgraded). Without
all=True, entries whose change is "same" are left out. Times, durations and task metrics are
information, never a change.
"""

from __future__ import annotations

import copy
from typing import Any

SCHEMA_VERSION = 1
LAYERS = ("transform", "params", "environment", "files", "children", "facts")


def _differs(entries: list[dict[str, Any]]) -> bool:
    return any(e.get("change", "same") != "same" for e in entries)


def layer_changed(name: str, layer: dict[str, Any]) -> bool:
    if name == "environment":
        return layer["environment"]["change"] != "same" or _differs(layer["lock_files"])
    if name == "files":
        return _differs(layer["inputs"]) or _differs(layer["outputs"])
    return _differs(layer["entries"])


def _without_same(name: str, layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(layer)
    for key in ("entries", "inputs", "outputs", "lock_files"):
        if key in out:
            out[key] = [e for e in out[key] if e.get("change", "same") != "same"]
    return out


class RunDiff:
    """What differs between run A and run B, layer by layer, and why each changed output changed."""

    def __init__(self, data: dict[str, Any]):
        self._data = data
        for name, layer in data["layers"].items():
            layer["changed"] = layer_changed(name, layer)
        data["changed"] = any(layer["changed"] for layer in data["layers"].values())

    @property
    def changed(self) -> bool:
        """True when anything differs (times, durations and metrics do not count)."""
        return bool(self._data["changed"])

    @property
    def why(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data["why"])

    def layer(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._data["layers"][name])

    def to_dict(self, all: bool = False) -> dict[str, Any]:  # noqa: A002 (the CLI's --all)
        """The JSON form; all=True keeps unchanged layers and entries."""
        data = copy.deepcopy(self._data)
        ordered = {"schema_version": data["schema_version"], "changed": data["changed"], "a": data["a"], "b": data["b"]}
        layers = {}
        for name in LAYERS:
            layer = data["layers"][name]
            shown = all or layer["changed"] or (name == "facts" and layer["metrics"])
            if shown:
                layers[name] = layer if all else _without_same(name, layer)
        ordered["layers"] = layers
        ordered["why"] = data["why"]
        return ordered

    def text(self, all: bool = False) -> str:  # noqa: A002
        from flowprov.diff.render import render_text

        return render_text(self.to_dict(all))

    def markdown(self, all: bool = False) -> str:  # noqa: A002
        from flowprov.diff.render import render_markdown

        return render_markdown(self.to_dict(all))

    def _repr_html_(self) -> str:
        from flowprov.diff.render import render_html

        return render_html(self.to_dict())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        a, b = self._data["a"]["uid"], self._data["b"]["uid"]
        changed = [n for n in LAYERS if self._data["layers"][n]["changed"]]
        return f"<RunDiff {a} → {b}: {', '.join(changed) or 'no differences'}>"
