"""Shared helpers of the diff tests: golden JSON files with uids, times and machine paths normalised."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from tests.conftest import REPO

GOLDEN = REPO / "tests" / "data" / "diff"
VOLATILE = {"uid", "started_at", "finished_at", "reference", "path", "created_at"}
UID_FIELDS = re.compile(r"\b[0-9A-Za-z]{16}\b")


def normalise(value: Any, root: str) -> Any:
    """Replace what differs between test runs (uids, times, temporary paths) by placeholders."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE and v is not None:
                out[k] = f"<{k}>"
            elif k == "info":  # times and durations
                out[k] = [{"field": i["field"]} for i in v]
            else:
                out[k] = normalise(v, root)
        return out
    if isinstance(value, list):
        return [normalise(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<root>")
    return value


def check_golden(name: str, data: dict[str, Any], root: Path) -> None:
    """Compare with tests/data/diff/<name>.json; FLOWPROV_UPDATE_GOLDEN=1 rewrites the file."""
    text = json.dumps(normalise(data, str(root)), indent=2, sort_keys=True) + "\n"
    path = GOLDEN / f"{name}.json"
    if os.environ.get("FLOWPROV_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with FLOWPROV_UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(), f"{name}: differs from {path}"
