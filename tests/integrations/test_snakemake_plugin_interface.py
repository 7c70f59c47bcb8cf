"""The logger plugin passes Snakemake's own logger-plugin test suite (snakemake-interface-logger-plugins)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import require_module

require_module("snakemake_interface_logger_plugins")

from snakemake_interface_logger_plugins.tests import TestLogHandlerBase  # noqa: E402

from snakemake_logger_plugin_flowprov import LogHandler, LogHandlerSettings  # noqa: E402


class TestFlowprovLogHandler(TestLogHandlerBase):
    __test__ = True

    def get_log_handler_cls(self) -> type[LogHandler]:
        return LogHandler

    def get_log_handler_settings(self) -> LogHandlerSettings:
        return LogHandlerSettings(db=None)


@pytest.fixture(autouse=True)
def _fresh_session():
    """Creating handlers registers the plugin in this process: leave no trace for other tests."""
    from flowprov.integrations.snakemake import recording

    saved = dict(recording._session)
    yield
    recording._session.clear()
    recording._session.update(saved)
    recording._state.clear()
    recording.events.reset()


def test_the_hooks_import_is_cheap_in_job_processes():
    """Snakemake parses the Snakefile in every job process: the hooks line loads no store layer."""
    code = (
        "import sys; from flowprov.integrations import snakemake as s; "
        "print(callable(s.onstart), any(m.startswith(('sqlalchemy', 'flowprov.core', 'snakemake')) for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False"]
