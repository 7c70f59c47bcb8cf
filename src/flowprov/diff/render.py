"""Render a diff's JSON form as text, Markdown (for a pull request comment) or HTML (Jupyter).

All three share `sections()`: a title per layer and its lines, each line either an item, a
note or a block of unified diff text.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

Line = tuple[str, str]  # (kind: "item" | "sub" (an item under the one before) | "note" | "diff", text)


def _v(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _change(e: dict[str, Any], name: str) -> str:
    if e["change"] in ("changed", "upgraded", "downgraded"):
        delta = f" ({e['delta']:+g})" if "delta" in e else ""
        return f"{name}: {_v(e['a'])} → {_v(e['b'])}{delta}" + (f" [{e['change']}]" if e["change"] != "changed" else "")
    if e["change"] == "added":
        return f"{name}: added {_v(e['b'])}"
    if e["change"] == "removed":
        return f"{name}: removed (was {_v(e['a'])})"
    return f"{name}: {_v(e['a'])}"


def _file_lines(title: str, entries: list[dict[str, Any]]) -> list[Line]:
    lines: list[Line] = []
    for f in entries:
        size = ""
        if f["change"] == "changed" and f["a"] and f["b"]:
            size = f" ({_v(f['a']['size'])} → {_v(f['b']['size'])} bytes)"
        lines.append(("item", f"{title} {f['name']}: {'same bytes' if f['change'] == 'same' else f['change']}{size}"))
        if f.get("text_diff"):
            lines.append(("diff", f["text_diff"]))
    return lines


def _transform(layer: dict[str, Any]) -> list[Line]:
    lines: list[Line] = [("item", _change(e, e["field"])) for e in layer["entries"]]
    if layer["source_diff"]:
        lines.append(("diff", layer["source_diff"]))
    return lines


def _params(layer: dict[str, Any]) -> list[Line]:
    return [("item", _change(e, e["path"])) for e in layer["entries"]]


def _environment(layer: dict[str, Any]) -> list[Line]:
    lines: list[Line] = [("item", _change(e, e["package"])) for e in layer["entries"]]
    if layer["packages_unreadable"]:
        lines.append(("note", "environment changed; the package lists are no longer readable"))
    elif layer["environment"]["change"] == "same":
        lines.append(("note", "same environment artifact"))
    return lines + _file_lines("lock file", layer["lock_files"])


def _files(layer: dict[str, Any]) -> list[Line]:
    return _file_lines("input", layer["inputs"]) + _file_lines("output", layer["outputs"])


def _step_line(e: dict[str, Any]) -> str:
    state = e["change"]
    if e["change"] == "changed":
        state = "changed: " + ", ".join(e["differences"])
    how = ""
    if e.get("b") and e["b"]["cached"]:
        how = " (cached)"
    elif e.get("rerun"):
        how = " (re-ran)"
    status = ""
    if e.get("a") and e.get("b") and e["a"]["status"] != e["b"]["status"]:
        status = f" status {e['a']['status']} → {e['b']['status']}"
    elif e.get("b") or e.get("a"):
        status = f" [{(e.get('b') or e['a'])['status']}]"
    return f"{e['name']} ({e['step']}): {state}{how}{status}"


def _children(layer: dict[str, Any]) -> list[Line]:
    c = layer["counts"]
    states = ", ".join(f"{c[k]} {k}" for k in ("changed", "added", "removed", "same") if c.get(k))
    lines: list[Line] = [("note", f"{states}; {c['rerun']} re-ran, {c['cached']} cached")]
    for step, diff in layer.get("source_diffs", {}).items():
        lines += [("item", f"source of {step} changed"), ("diff", diff)]
    for e in layer["entries"]:
        lines.append(("item", _step_line(e)))
        for p in e.get("params", []):
            lines.append(("sub", _change(p, "param " + p["path"])))
        if e.get("code") and e["code"]["diff"]:
            lines.append(("diff", e["code"]["diff"]))
        for kind in ("inputs", "outputs"):
            lines += [(k if k == "diff" else "sub", t) for k, t in _file_lines(kind[:-1], e.get(kind, []))]
    return lines


def _facts(layer: dict[str, Any]) -> list[Line]:
    lines: list[Line] = [("item", _change(e, e["field"])) for e in layer["entries"]]
    lines += [("note", f"{i['field']}: {_v(i['a'])} → {_v(i['b'])}") for i in layer["info"]]
    for m in layer["metrics"]:
        lines.append(("item", f"{m['step']} {m['metric']}: {m['a']} → {m['b']} (×{m['ratio']})"))
    return lines


RENDERERS: dict[str, Callable[[dict[str, Any]], list[Line]]] = {
    "transform": _transform,
    "params": _params,
    "environment": _environment,
    "files": _files,
    "children": _children,
    "facts": _facts,
}
TITLES = {
    "transform": "Transform",
    "params": "Params",
    "environment": "Environment",
    "files": "Inputs and outputs",
    "children": "Steps",
    "facts": "Run facts",
}


def _side(s: dict[str, Any]) -> str:
    name = f" {s['name']}" if s["name"] else ""
    return f"{s['uid']}{name} ({s['transform']['key'] or s['transform']['name']}, {s['status']}, started {s['started_at']})"


def sections(data: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[Line]]]]:
    head = [f"A: {_side(data['a'])}", f"B: {_side(data['b'])}"]
    if not data["changed"]:
        head.append("No differences.")
    out = [(TITLES[name], RENDERERS[name](layer)) for name, layer in data["layers"].items()]
    if data["why"]:
        why_lines: list[Line] = [("item", c["text"]) for w in data["why"] for c in w["chains"]]
        out.append(("Why", why_lines))
    return head, out


PREFIX = {"item": "- ", "sub": "    ", "note": "  "}


def render_text(data: dict[str, Any]) -> str:
    head, parts = sections(data)
    lines = list(head)
    for title, body in parts:
        lines += ["", f"== {title} =="]
        for kind, text in body:
            lines += [text.rstrip("\n")] if kind == "diff" else [PREFIX[kind] + text]
    return "\n".join(lines) + "\n"


def render_markdown(data: dict[str, Any]) -> str:
    head, parts = sections(data)
    lines = ["## flowprov diff", ""] + [f"- {h}" for h in head]
    for title, body in parts:
        lines += ["", f"### {title}", ""]
        for kind, text in body:
            if kind == "diff":
                lines += ["```diff", text.rstrip("\n"), "```"]
            else:
                lines.append(
                    {"item": "- ", "sub": "  - ", "note": "- "}[kind] + (f"_{text}_" if kind == "note" else text)
                )
    return "\n".join(lines) + "\n"


def render_html(data: dict[str, Any]) -> str:
    head, parts = sections(data)
    out = ["<div class='flowprov-diff'>", "<p>" + "<br>".join(html.escape(h) for h in head) + "</p>"]
    for title, body in parts:
        out.append(f"<h4>{html.escape(title)}</h4><ul>")
        for kind, text in body:
            if kind == "diff":
                out.append(f"<pre>{html.escape(text)}</pre>")
            else:
                out.append(
                    f"<li>{'<i>' if kind == 'note' else ''}{html.escape(text)}{'</i>' if kind == 'note' else ''}</li>"
                )
        out.append("</ul>")
    out.append("</div>")
    return "\n".join(out)


def print_rich(data: dict[str, Any]) -> None:
    """The text form, coloured in a terminal (Rich strips colour when output is not a terminal)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    head, parts = sections(data)
    for h in head:
        console.print(Text(h, style="bold"))
    for title, body in parts:
        console.print()
        console.print(Text(f"== {title} ==", style="bold cyan"))
        for kind, text in body:
            if kind == "diff":
                for line in text.rstrip("\n").splitlines():
                    style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                    console.print(Text(line, style=style))
            else:
                console.print(Text(PREFIX[kind] + text, style="dim" if kind == "note" else ""))
