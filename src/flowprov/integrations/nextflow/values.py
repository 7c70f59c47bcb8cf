"""Parsers for the values Nextflow writes into trace files, human-readable and raw.

Human format (the default): durations like `519ms`, `1.2s`, `4h 12m 10s`, `1d 3h`; memory with
base-1024 units and one decimal (`912 B`, `29.8 MB`, `1 GB`, a zero is `0`); `%cpu` like `98.5%`
(old comma locales wrote `98,5%`); dates `yyyy-MM-dd HH:mm:ss.SSS` in the host's local time
without an offset. Raw format (`trace.raw = true`): epoch milliseconds, milliseconds, bytes and
bare numbers. `-` means missing everywhere. Each parser raises ValueError on anything else.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_DURATION_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*(ms|d|h|m|s)")
_DURATION_FULL = re.compile(r"^(?:\s*\d+(?:[.,]\d+)?\s*(?:ms|d|h|m|s))+\s*$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_MEMORY = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(B|KB|MB|GB|TB|PB|EB)?$")
_MEMORY_FACTOR = {
    None: 1,
    "B": 1,
    "KB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
    "PB": 1024**5,
    "EB": 1024**6,
}
_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?$")


def missing(text: str) -> bool:
    return text == "-" or text == ""


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def parse_duration_ms(text: str) -> int | None:
    """Milliseconds from `4h 12m 10s` / `519ms` / `1.2s` or a raw millisecond count."""
    text = text.strip()
    if missing(text):
        return None
    if text.isdigit():
        return int(text)
    if not _DURATION_FULL.match(text):
        raise ValueError(f"cannot parse {text!r} as a duration")
    return round(sum(_float(n) * _DURATION_MS[u] for n, u in _DURATION_PART.findall(text)))


def parse_memory_bytes(text: str) -> int | None:
    """Bytes from `29.8 MB` / `912 B` / `0` or a raw byte count."""
    if text.isdigit():
        return int(text)
    text = text.strip()
    if missing(text):
        return None
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"cannot parse {text!r} as a memory size")
    return round(_float(match.group(1)) * _MEMORY_FACTOR[match.group(2)])


def parse_percent(text: str) -> float | None:
    """A percentage from `98.5%` / `98,5%` / `1577.7%` or a bare number."""
    text = text.strip()
    if missing(text):
        return None
    body = text[:-1] if text.endswith("%") else text
    if not _NUMBER.match(body):
        raise ValueError(f"cannot parse {text!r} as a percentage")
    return _float(body)


def parse_int(text: str) -> int | None:
    text = text.strip()
    if missing(text):
        return None
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"cannot parse {text!r} as an integer")
    return int(text)


def parse_timestamp(text: str, tz: ZoneInfo) -> dt.datetime | None:
    """UTC datetime from a local `2020-05-05 14:12:02.972` (zone `tz`) or raw epoch milliseconds."""
    text = text.strip()
    if missing(text):
        return None
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, tz=dt.UTC)
    if len(text) < 19 or text[10] != " " or text[4] != "-":
        raise ValueError(f"cannot parse {text!r} as a date (yyyy-MM-dd HH:mm:ss.SSS or epoch ms)")
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"cannot parse {text!r} as a date (yyyy-MM-dd HH:mm:ss.SSS or epoch ms)") from None
    if local.tzinfo is not None:
        raise ValueError(f"cannot parse {text!r} as a date (a trace date has no offset)")
    return local.replace(tzinfo=tz).astimezone(dt.UTC)
