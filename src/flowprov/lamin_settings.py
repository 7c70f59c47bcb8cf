"""`ln.settings`: lamindb's settings object — the log verbosity and the current store.

ln.settings.verbosity = "warning"   # error, warning, success, info, hint, debug (or 0..5)
ln.settings.store                   # the store records go to (lamindb: ln.settings.instance)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowprov.core.store.connection import Store

# lamindb's verbosity names, lowest first, and the logging level each lets through.
VERBOSITY_LEVELS = {
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "success": logging.INFO,
    "info": logging.INFO,
    "hint": logging.DEBUG,
    "debug": logging.DEBUG,
}
VERBOSITY_NAMES = list(VERBOSITY_LEVELS)


class Settings:
    """Process-wide settings; the verbosity sets the level of the `flowprov` logger."""

    def __init__(self) -> None:
        self._verbosity = "warning"

    @property
    def verbosity(self) -> str:
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: str | int) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(VERBOSITY_NAMES):
            value = VERBOSITY_NAMES[value]
        if value not in VERBOSITY_LEVELS:
            raise ValueError(f"verbosity {value!r}: use one of {', '.join(VERBOSITY_NAMES)} or 0..5")
        self._verbosity = str(value)
        logging.getLogger("flowprov").setLevel(VERBOSITY_LEVELS[self._verbosity])

    @property
    def store(self) -> Store:
        """The current store (`flowprov.current_store()`)."""
        from flowprov.core.store.connection import current_store

        return current_store()

    instance = store  # lamindb's name for the current database

    @property
    def storage(self) -> str:
        """The root of the current store's default storage location (made on first use)."""
        from flowprov.core.registry.artifact_create import default_storage

        return default_storage(self.store).root

    @property
    def track_run_inputs(self) -> bool:
        """Whether load() / open() / cache() of an artifact in a tracked run record it as an input."""
        from flowprov.core.registry import artifact

        return artifact.track_run_inputs

    @track_run_inputs.setter
    def track_run_inputs(self, value: bool) -> None:
        from flowprov.core.registry import artifact

        artifact.track_run_inputs = bool(value)

    def __repr__(self) -> str:
        """lamindb's layout: the class name, then one indented `name: value` line per setting."""
        from flowprov.core.store.connection import current_store_source

        source = current_store_source() or "lookup on first use"
        lines = ["Settings", f"  instance: store chosen by {source}", "  storage: the store's first Storage record"]
        lines += [f"  verbosity: {self._verbosity}", f"  track_run_inputs: {self.track_run_inputs}"]
        return "\n".join(lines)


settings = Settings()
