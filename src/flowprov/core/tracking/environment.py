"""The run environment: every installed distribution as `name==version`, as one artifact.

The listing is read with importlib.metadata (no pip subprocess) and cached on disk under a
fingerprint of the installed `*.dist-info` / `*.egg-info` directory names, so only the first run
in a new environment pays for reading the metadata; runs in the same environment share one
artifact (same bytes, same record). Lock files beside the project (uv.lock, pixi.lock,
environment.yml, ...) are registered too.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from flowprov.core import paths

LOCK_FILES = (
    "uv.lock",
    "pixi.lock",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
    "poetry.lock",
    "requirements.txt",
)


LISTINGS_BESIDE_STORE = ".flowprov-environments"


def cache_dir() -> Path:
    return paths.cache_dir() / "environments"


def listing_dir(store_url: str | None = None) -> Path:
    """Where environment listings are kept: beside the store's file for an SQLite store given by
    URL or path (FLOWPROV_DB, `connect`, a project's `.flowprov/`), so the listing a run names
    lives, and moves, with its store; the per-user cache for other stores and when none is given."""
    if store_url and store_url.startswith("sqlite:///") and ":memory:" not in store_url:
        database = store_url.removeprefix("sqlite:///").split("?", 1)[0]
        if database:
            return Path(database).parent / LISTINGS_BESIDE_STORE
    return cache_dir()


def _fingerprint() -> str:
    names = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                names += [e.name for e in it if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
    digest = hashlib.md5(("\n".join(sorted(names)) + sys.version).encode()).hexdigest()
    return digest


def installed_distributions() -> list[str]:
    from importlib import metadata

    seen = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    return sorted(seen.values(), key=str.lower)


def environment_file(store_url: str | None = None) -> Path:
    """A file listing the current environment (written once per distinct environment), in
    `listing_dir(store_url)`; the per-user cache when the store's folder cannot be written."""
    path = listing_dir(store_url) / f"python-{_fingerprint()}.txt"
    try:
        return _write_listing(path)
    except OSError:
        if path.parent == cache_dir():
            raise
        return _write_listing(cache_dir() / path.name)


def _write_listing(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"# python {sys.version.split()[0]}\n" + "\n".join(installed_distributions()) + "\n"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        try:
            # The first process in a new environment wins; the others keep its file untouched
            # (replacing it would change the file under a process that is hashing it).
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path


def lock_files(project_root: Path) -> list[Path]:
    return [project_root / name for name in LOCK_FILES if (project_root / name).is_file()]
