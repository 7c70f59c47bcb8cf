"""Task run parameters as recorded: redacted like flow parameters, large values summarised.

A value whose JSON form is longer than PARAM_SIZE_CAP characters (a big list, a data frame, a
long string) is stored as a summary string `<list: 5000 items, 48213 chars, not stored>`; values
the store cannot hold (objects, NaN) are stored as `<TypeName: not storable>`. Secret-named
keys, pydantic secrets and URL passwords are redacted by flowprov.core.redaction first.
"""

from __future__ import annotations

import json
from typing import Any

PARAM_SIZE_CAP = 10_000  # characters of JSON per parameter value


def _summary(value: Any, normalized: Any, size: int) -> str:
    items = f"{len(normalized)} items, " if isinstance(normalized, (list, dict)) else ""
    return f"<{type(value).__name__}: {items}{size} chars, not stored>"


def task_param(key: str, value: Any) -> Any:
    """One parameter value, storable and within the size cap."""
    from flowprov.core.exceptions import ValidationError
    from flowprov.core.tracking.adapter_kit import storable_param

    try:
        normalized = storable_param(key, value)
    except (ValidationError, RecursionError):
        return f"<{type(value).__name__}: not storable>"
    size = len(json.dumps(normalized, default=str))
    return normalized if size <= PARAM_SIZE_CAP else _summary(value, normalized, size)


def task_params(parameters: dict[str, Any]) -> dict[str, Any]:
    """A task run's parameters as recorded."""
    return {str(k): task_param(str(k), v) for k, v in parameters.items()}
