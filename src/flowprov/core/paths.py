"""flowprov's per-user folders, by the XDG base directory rules (one place for all of them).

- config: `$XDG_CONFIG_HOME/flowprov` (`~/.config/flowprov`): named stores;
- data:   `$XDG_DATA_HOME/flowprov` (`~/.local/share/flowprov`): the default store, the spool;
- cache:  `$XDG_CACHE_HOME/flowprov` (`~/.cache/flowprov`): the hash cache, environment listings.

This module is a leaf: every layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, *default: str) -> Path:
    return Path(os.environ.get(variable) or Path.home().joinpath(*default)) / "flowprov"


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local", "share")


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache")


def spool_dir() -> Path:
    """Where runs that could not be written wait for `flowprov spool replay` (replayed ones: done/)."""
    return data_dir() / "spool"
