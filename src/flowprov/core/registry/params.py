"""Run parameters, stored as one JSON document per run so they can be queried on both stores
(`Run.filter(params__learning_rate__gt=0.01)`).

Values are normalised on the way in: nested dicts and lists, numbers, bools and strings stay as
they are; dates, datetimes and paths become ISO / POSIX strings; anything else is refused naming
its key. Values under secret-looking keys, and pydantic `SecretStr` values, are stored as "***".
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

from flowprov.core.exceptions import ValidationError
from flowprov.core.redaction import REDACTED, is_secret_key, redact_text, secret_key_pattern

__all__ = ["REDACTED", "ParamManager", "is_secret_key", "normalize_param", "secret_key_pattern"]


def normalize_param(value: Any, key: str, pattern: re.Pattern[str] | None = None) -> Any:
    """A JSON-storable copy of `value`, with secrets redacted; raises ValidationError naming `key`."""
    pattern = pattern or secret_key_pattern()
    if type(value).__name__ in ("SecretStr", "SecretBytes", "Secret") or pattern.search(
        str(key).rsplit(".", 1)[-1].replace("-", "_")
    ):
        return REDACTED if value is not None else None
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValidationError({"params": [f"{key}: {value!r} cannot be stored (JSON has no NaN or infinity)"]})
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError({"params": [f"{key}: keys must be strings, got {k!r}"]})
            out[k] = normalize_param(v, f"{key}.{k}", pattern)
        return out
    if isinstance(value, (list, tuple)):
        return [normalize_param(v, f"{key}[{i}]", pattern) for i, v in enumerate(value)]
    if hasattr(value, "model_dump"):  # pydantic models
        return normalize_param(value.model_dump(), key, pattern)
    raise ValidationError(
        {
            "params": [
                f"{key}: cannot store a {type(value).__name__} value ({value!r}); use numbers, strings, bools, lists or dicts"
            ]
        }
    )


class ParamManager:
    """`run.params`: add and read a run's parameters (lamindb's `run.params` API)."""

    def __init__(self, run: Any):
        self.run = run

    def add_values(self, values: dict[str, Any]) -> None:
        """Add or overwrite parameters; saved right away when the run is saved already."""
        self._write(values, keep=True)

    def set_values(self, values: dict[str, Any]) -> None:
        """Replace all parameters (lamindb 2.x's `run.params = {...}`); saved like add_values."""
        self._write(values, keep=False)

    def _write(self, values: dict[str, Any], keep: bool) -> None:
        if not isinstance(values, dict):
            raise TypeError(f"run.params takes a dict, got {type(values).__name__}")
        pattern = secret_key_pattern()
        normalized = {}
        for key, value in values.items():
            if not isinstance(key, str):
                raise ValidationError({"params": [f"parameter names must be strings, got {key!r}"]})
            normalized[key] = normalize_param(value, key, pattern)
        merged = dict(self.run._params or {}) if keep else {}
        merged.update(normalized)
        if self.run.id is None:
            self.run.__dict__["_params"] = merged
        else:
            self.run._params = merged
            self.run.save()

    def get_values(self) -> dict[str, Any]:
        return dict(self.run._params or {})

    def __getitem__(self, key: str) -> Any:
        return (self.run._params or {})[key]

    def __contains__(self, key: str) -> bool:
        return key in (self.run._params or {})

    def __iter__(self) -> Iterator[str]:
        return iter(self.run._params or {})

    def __len__(self) -> int:
        return len(self.run._params or {})

    def __eq__(self, other: object) -> bool:
        # lamindb 2.x code compares run.params with a dict
        if isinstance(other, ParamManager):
            other = other.get_values()
        return self.get_values() == other if isinstance(other, dict) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mutable view, like a dict

    def __repr__(self) -> str:
        return f"ParamManager({self.get_values()!r})"
