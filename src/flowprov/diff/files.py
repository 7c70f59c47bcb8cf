"""Match the files of two runs and say how each pair differs.

Files match by artifact key, then by location, then by their path relative to the common folder
of each side's files (two launches in two directories, task work dirs with different hashes).
A line diff is added for small text files when both versions still exist on this machine with
the bytes that were recorded (a file overwritten by the later run has lost its old bytes).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlparse

DEFAULT_MAX_TEXT_BYTES = 64 * 1024


def _uri(artifact: Any) -> str:
    """The stored location URI of a plain row (`.path`) or of an Artifact record (`.uri`)."""
    return (artifact.uri if hasattr(artifact, "uri") else artifact.path) or ""


def local_path(artifact: Any) -> str:
    uri = _uri(artifact)
    if uri.startswith("file:///") and "%" not in uri:  # the common case, without urlparse's cost
        return uri[7:]
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def relative_names(artifacts: list[Any]) -> dict[int, str]:
    """artifact id -> its key, else its path relative to the folder all of them share."""
    paths = {a.id: local_path(a) for a in artifacts if not a.key}
    names = {a.id: a.key for a in artifacts if a.key}
    if not paths:
        return names
    values = list(paths.values())
    try:
        root = os.path.commonpath(values) if len(values) > 1 else os.path.dirname(values[0])
    except ValueError:  # mixed absolute and relative paths
        root = ""
    if root in paths.values():  # a single file, or one file is the common path itself
        root = os.path.dirname(root)
    prefix = root.rstrip("/") + "/" if root else ""
    names.update((i, p[len(prefix) :] if prefix and p.startswith(prefix) else p) for i, p in paths.items())
    return names


def describe_file(artifact: Any) -> dict[str, Any]:
    return {"uid": artifact.uid, "hash": artifact.hash, "size": artifact.size, "path": _uri(artifact)}


def _pair_by(
    left: dict[int, str], right: dict[int, str], pairs: list[tuple[int | None, int | None]]
) -> tuple[dict[int, str], dict[int, str]]:
    """Pair ids whose names are equal and unique on both sides; return what is left."""
    right_by_name: dict[str, list[int]] = {}
    for i, name in right.items():
        right_by_name.setdefault(name, []).append(i)
    left_counts: dict[str, int] = {}
    for name in left.values():
        left_counts[name] = left_counts.get(name, 0) + 1
    rest_left = dict(left)
    rest_right = dict(right)
    for i, name in left.items():
        matches = right_by_name.get(name, [])
        if len(matches) == 1 and left_counts[name] == 1:
            pairs.append((i, matches[0]))
            del rest_left[i], rest_right[matches[0]]
    return rest_left, rest_right


def match_files(a: list[Any], b: list[Any]) -> list[tuple[Any | None, Any | None, str]]:
    """(artifact in A or None, artifact in B or None, display name), by key, location, relative path."""
    ident_a = {(x.key or _uri(x)): x for x in a}
    ident_b = {(x.key or _uri(x)): x for x in b}
    if len(ident_a) == len(a) and len(ident_b) == len(b) and ident_a.keys() == ident_b.keys():
        # the common case (the same files at the same places): pair directly
        return sorted(((ident_a[k], x, x.key or local_path(x)) for k, x in ident_b.items()), key=lambda t: t[2])
    by_id = {x.id: x for x in [*a, *b]}
    pairs: list[tuple[int | None, int | None]] = []
    left = {x.id: (x.key or _uri(x)) for x in a}
    right = {x.id: (x.key or _uri(x)) for x in b}
    left, right = _pair_by(left, right, pairs)
    if left or right:  # names relative to each side's common folder, only when some are unmatched
        rel_a, rel_b = relative_names(a), relative_names(b)
        if left and right:
            left, right = _pair_by({i: rel_a[i] for i in left}, {i: rel_b[i] for i in right}, pairs)
    else:
        rel_a = rel_b = {x.id: x.key or local_path(x) for x in [*a, *b]}
    pairs += [(i, None) for i in left] + [(None, i) for i in right]
    out = []
    for ia, ib in pairs:
        name = rel_b[ib] if ib is not None else rel_a[ia]  # type: ignore[index]
        out.append((by_id.get(ia) if ia is not None else None, by_id.get(ib) if ib is not None else None, name))
    return sorted(out, key=lambda t: t[2])


class FileComparisons:
    """compare_files with the results kept for one diff: the step layer and the file layer compare
    the same step outputs, and text files are read once."""

    def __init__(self, max_text_bytes: int):
        self.max_text_bytes = max_text_bytes
        self._seen: dict[tuple[tuple[int, ...], tuple[int, ...]], list[dict[str, Any]]] = {}

    def __call__(self, a: list[Any], b: list[Any]) -> list[dict[str, Any]]:
        key = (tuple(x.id for x in a), tuple(x.id for x in b))
        if key not in self._seen:
            self._seen[key] = compare_files(a, b, self.max_text_bytes)
        return self._seen[key]


def compare_files(a: list[Any], b: list[Any], max_text_bytes: int) -> list[dict[str, Any]]:
    """One entry per matched name: same, changed (with a line diff when possible), added or removed."""
    entries = []
    for fa, fb, name in match_files(a, b):
        entry: dict[str, Any] = {"name": name}
        if fa is None or fb is None:
            entry["change"] = "added" if fa is None else "removed"
        else:
            entry["change"] = "same" if (fa.hash, fa.hash_type) == (fb.hash, fb.hash_type) else "changed"
        entry["a"] = describe_file(fa) if fa is not None else None
        entry["b"] = describe_file(fb) if fb is not None else None
        if entry["change"] == "changed":
            entry["text_diff"] = text_diff(fa, fb, name, max_text_bytes)
        entries.append(entry)
    return entries


def _recorded_text(artifact: Any, max_bytes: int) -> list[str] | None:
    """The file's lines when it is small text still holding the recorded bytes, else None."""
    from flowprov.core.hashing import HashingError, hash_path

    path = local_path(artifact)
    if artifact.size is None or artifact.size > max_bytes or not os.path.isfile(path):
        return None
    try:
        if hash_path(path).hash != artifact.hash:
            return None
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines(keepends=True)
    except (HashingError, OSError, UnicodeDecodeError):
        return None


def text_diff(a: Any, b: Any, name: str, max_bytes: int) -> str | None:
    old, new = _recorded_text(a, max_bytes), _recorded_text(b, max_bytes)
    if old is None or new is None:
        return None
    from flowprov.diff.layers import unified_diff

    return unified_diff("".join(old), "".join(new), f"a/{name}", f"b/{name}")
