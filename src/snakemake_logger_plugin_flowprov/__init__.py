"""Snakemake logger plugin `flowprov`: `snakemake --logger flowprov [--logger-flowprov-db URL]`.

Thin on purpose: it turns Snakemake's log events into calls of
`flowprov.integrations.snakemake.recording.EventRecorder`: the same recording as the Snakefile hooks.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    db: Optional[str] = field(  # noqa: UP045 (a real type object: Snakemake reads it to build --logger-flowprov-db)
        default=None,
        metadata={
            "help": "flowprov store URL, path or name (default: FLOWPROV_DB, the nearest .flowprov/, the per-user default)",
            "env_var": False,
        },
    )


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        from flowprov.integrations.snakemake.recording import EventRecorder

        self.recorder = EventRecorder(
            db=getattr(self.settings, "db", None), dry_run=bool(getattr(self.common_settings, "dryrun", False))
        )

    def emit(self, record: Any) -> None:
        self.recorder.handle(record)

    def close(self) -> None:
        self.recorder.close()
        super().close()

    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
