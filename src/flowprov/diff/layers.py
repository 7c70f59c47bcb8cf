"""The per-run layers of a diff: transform, params, environment and run facts.

Each function compares one aspect of two runs and returns JSON-ready entries; an entry whose
`change` is "same" is kept so `--all` can show it. Times, durations and task metrics are
informational: they differ on every run, so they never make a diff "changed" on their own.
"""

from __future__ import annotations

import difflib
from typing import Any

from flowprov.diff.files import compare_files, local_path

SAME = "same"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _field(name: str, a: Any, b: Any) -> dict[str, Any]:
    return {"field": name, "change": SAME if a == b else "changed", "a": a, "b": b}


def unified_diff(old: str, new: str, name_a: str, name_b: str) -> str:
    """A unified diff of two texts; a last line without a newline gets one, so lines never run together."""
    lines_a = [line if line.endswith("\n") else line + "\n" for line in old.splitlines(keepends=True)]
    lines_b = [line if line.endswith("\n") else line + "\n" for line in new.splitlines(keepends=True)]
    return "".join(difflib.unified_diff(lines_a, lines_b, name_a, name_b))


def source_diff(a: Any, b: Any, name: str) -> str:
    return unified_diff(a.source_code or "", b.source_code or "", f"a/{name}", f"b/{name}")


def transform_layer(a: Any, b: Any) -> dict[str, Any]:
    ta, tb = a.transform, b.transform
    attrs = {"key": "key", "version": "version_tag", "hash": "hash", "type": "type"}  # version: the label
    fields = [_field(f, getattr(ta, a), getattr(tb, a)) for f, a in attrs.items()]
    layer: dict[str, Any] = {"entries": fields, "source_diff": None}
    if ta.hash != tb.hash:
        layer["source_diff"] = source_diff(ta, tb, tb.key or tb.name or "source")
    return layer


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted paths (`model.layers`); lists and scalars are leaves."""
    if isinstance(value, dict) and (value or not prefix):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_params(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    fa, fb = _flatten(a or {}), _flatten(b or {})
    entries = []
    for path in sorted(set(fa) | set(fb)):
        if path not in fa:
            entries.append({"path": path, "change": "added", "a": None, "b": fb[path]})
        elif path not in fb:
            entries.append({"path": path, "change": "removed", "a": fa[path], "b": None})
        else:
            entry = {"path": path, "change": SAME if fa[path] == fb[path] else "changed", "a": fa[path], "b": fb[path]}
            if entry["change"] == "changed" and _is_number(fa[path]) and _is_number(fb[path]):
                entry["delta"] = fb[path] - fa[path]
            entries.append(entry)
    return entries


def params_layer(a: Any, b: Any) -> dict[str, Any]:
    return {"entries": compare_params(a.params.get_values(), b.params.get_values())}


def read_packages(environment: Any) -> dict[str, str] | None:
    """`name==version` lines of an environment artifact, by lower-case name; None when unreadable."""
    if environment is None:
        return None
    try:
        with open(local_path(environment), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    packages = {}
    for line in lines:
        name, sep, version = line.strip().partition("==")
        if sep and not name.startswith("#"):
            packages[name.lower()] = version
    return packages


def _version_change(old: str, new: str) -> str:
    try:
        from packaging.version import Version

        return "upgraded" if Version(new) > Version(old) else "downgraded"
    except Exception:  # not PEP 440 versions, or packaging missing
        return "changed"


def compare_packages(a: dict[str, str], b: dict[str, str]) -> list[dict[str, Any]]:
    entries = []
    for name in sorted(set(a) | set(b)):
        old, new = a.get(name), b.get(name)
        if old == new:
            change = SAME
        elif old is None:
            change = "added"
        elif new is None:
            change = "removed"
        else:
            change = _version_change(old, new)
        entries.append({"package": name, "change": change, "a": old, "b": new})
    return entries


def environment_layer(a: Any, b: Any, locks_a: list[Any], locks_b: list[Any], max_text_bytes: int) -> dict[str, Any]:
    """Packages from the environment artifacts, and the lock files (`aux["environment_files"]`)."""
    env_a, env_b = a.environment, b.environment
    same_env = (env_a.hash if env_a else None) == (env_b.hash if env_b else None)
    packages: list[dict[str, Any]] = []
    unreadable = False
    if not same_env:
        pa, pb = read_packages(env_a), read_packages(env_b)
        if pa is not None and pb is not None:
            packages = compare_packages(pa, pb)
        else:
            unreadable = True
    env = _field("environment", env_a.hash if env_a else None, env_b.hash if env_b else None)
    return {
        "environment": env,
        "packages_unreadable": unreadable,
        "entries": packages,
        "lock_files": compare_files(locks_a, locks_b, max_text_bytes),
    }


def _duration(run: Any) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return round((run.finished_at - run.started_at).total_seconds(), 3)


def _engine_versions(aux: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in aux.items() if k.endswith("_version") or k == "python"}


def facts_layer(a: Any, b: Any) -> dict[str, Any]:
    aux_a, aux_b = a.aux or {}, b.aux or {}
    git_a, git_b = aux_a.get("git") or {}, aux_b.get("git") or {}
    entries = [
        _field("status", a.status, b.status),
        _field("reference_type", a.reference_type, b.reference_type),
        _field("host", aux_a.get("hostname"), aux_b.get("hostname")),
        _field("git_commit", git_a.get("commit"), git_b.get("commit")),
        _field("git_dirty", git_a.get("dirty"), git_b.get("dirty")),
    ]
    versions_a, versions_b = _engine_versions(aux_a), _engine_versions(aux_b)
    entries += [_field(k, versions_a.get(k), versions_b.get(k)) for k in sorted(set(versions_a) | set(versions_b))]
    info = [
        {"field": "started_at", "a": _iso(a.started_at), "b": _iso(b.started_at)},
        {"field": "finished_at", "a": _iso(a.finished_at), "b": _iso(b.finished_at)},
        {"field": "duration_s", "a": _duration(a), "b": _duration(b)},
    ]
    return {"entries": entries, "info": info}


METRICS = ("realtime_ms", "peak_rss_bytes", "cpu_percent")


def metric_ratios(pairs: list[tuple[str, Any, Any]], threshold: float) -> list[dict[str, Any]]:
    """Nextflow task metrics of matched, re-run steps whose ratio B/A is beyond the threshold either way."""
    out = []
    for label, ra, rb in pairs:
        aux_a, aux_b = ra.aux or {}, rb.aux or {}
        for metric in METRICS:
            va, vb = aux_a.get(metric), aux_b.get(metric)
            if not (_is_number(va) and _is_number(vb)) or float(va) <= 0:  # type: ignore[arg-type]
                continue
            ratio = float(vb) / float(va)  # type: ignore[arg-type]
            if ratio >= threshold or ratio <= 1 / threshold:
                out.append({"step": label, "metric": metric, "a": va, "b": vb, "ratio": round(ratio, 3)})
    return out
