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

    def __repr__(self) -> str:
        from flowprov.core.store.connection import current_store_source

        return f"Settings(verbosity={self._verbosity!r}, store chosen by {current_store_source() or 'lookup on first use'})"


settings = Settings()
