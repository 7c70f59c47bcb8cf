"""Parsers for the values Nextflow writes into trace files, human-readable and raw.

Human format (the default): durations like `519ms`, `1.2s`, `4h 12m 10s`, `1d 3h`; memory with
base-1024 units and one decimal (`912 B`, `29.8 MB`, `1 GB`, a zero is `0`); `%cpu` like `98.5%`
(old comma locales wrote `98,5%`); dates `yyyy-MM-dd HH:mm:ss.SSS` in the host's local time
without an offset. Raw format (`trace.raw = true`): epoch milliseconds, milliseconds, bytes and
bare numbers. `-` means missing everywhere. Each parser raises ValueError on anything else.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

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
# No real trace value is larger; a larger one would overflow the stores' 64-bit integers.
LARGEST = 2**63 - 1
# A trace cannot describe the future: a date later than this after now is a corrupt value.
FUTURE_SLACK = dt.timedelta(days=1)


def shown(text: str) -> str:
    """A value for an error message: quoted, and cut short when it is huge."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _bounded(number: int, text: str) -> int:
    if abs(number) > LARGEST:
        raise ValueError(f"{shown(text)} is too large for a trace value")
    return number


def missing(text: str) -> bool:
    return text == "-" or text == ""


def _float(text: str) -> float:
    return float(text.replace(",", "."))


@functools.lru_cache(maxsize=4096)  # a trace repeats the same few values: parse each once
def parse_duration_ms(text: str) -> int | None:
    """Milliseconds from `4h 12m 10s` / `519ms` / `1.2s` or a raw millisecond count."""
    text = text.strip()
    if missing(text):
        return None
    if text.isdigit():
        return _bounded(int(text), text)
    if len(text) > 200 or not _DURATION_FULL.match(text):
        raise ValueError(f"cannot parse {shown(text)} as a duration")
    return _bounded(round(sum(_float(n) * _DURATION_MS[u] for n, u in _DURATION_PART.findall(text))), text)


@functools.lru_cache(maxsize=4096)
def parse_memory_bytes(text: str) -> int | None:
    """Bytes from `29.8 MB` / `912 B` / `0` or a raw byte count."""
    if text.isdigit():
        return _bounded(int(text), text)
    text = text.strip()
    if missing(text):
        return None
    match = _MEMORY.match(text) if len(text) <= 40 else None
    if not match:
        raise ValueError(f"cannot parse {shown(text)} as a memory size")
    return _bounded(round(_float(match.group(1)) * _MEMORY_FACTOR[match.group(2)]), text)


@functools.lru_cache(maxsize=4096)
def parse_percent(text: str) -> float | None:
    """A percentage from `98.5%` / `98,5%` / `1577.7%` or a bare number."""
    text = text.strip()
    if missing(text):
        return None
    body = text[:-1] if text.endswith("%") else text
    if len(body) > 40 or not _NUMBER.match(body):
        raise ValueError(f"cannot parse {shown(text)} as a percentage")
    return _float(body)


@functools.lru_cache(maxsize=4096)
def parse_int(text: str, minimum: int | None = None) -> int | None:
    text = text.strip()
    if missing(text):
        return None
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"cannot parse {shown(text)} as an integer")
    number = _bounded(int(text), text)
    if minimum is not None and number < minimum:
        raise ValueError(f"{number} is below {minimum}, the smallest value this field takes")
    return number


def parse_timestamp(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """UTC datetime from a local `2020-05-05 14:12:02.972` (zone `tz`) or raw epoch milliseconds."""
    text = text.strip()
    if missing(text):
        return None
    if text.isdigit():
        try:
            when = dt.datetime.fromtimestamp(int(text) / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{shown(text)} is out of range for a date in epoch milliseconds") from None
        return _not_in_future(when, text)
    if len(text) < 19 or len(text) > 40 or text[10] != " " or text[4] != "-":
        raise ValueError(f"cannot parse {shown(text)} as a date (yyyy-MM-dd HH:mm:ss.SSS or epoch ms)")
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"cannot parse {text!r} as a date (yyyy-MM-dd HH:mm:ss.SSS or epoch ms)") from None
    if local.tzinfo is not None:
        raise ValueError(f"cannot parse {text!r} as a date (a trace date has no offset)")
    try:
        when = local.replace(tzinfo=tz).astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range for a date") from None
    return _not_in_future(when, text)


def _not_in_future(when: dt.datetime, text: str) -> dt.datetime:
    if when > dt.datetime.now(dt.UTC) + FUTURE_SLACK:
        raise ValueError(f"{text!r} is in the future: not a time this trace can have recorded")
    return when
