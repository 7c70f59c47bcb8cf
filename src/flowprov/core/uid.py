"""Record uids: base62 strings from `secrets`, with lamindb's version-family layout.

A versioned uid is a stem followed by a 4-character version suffix; all versions of one family
share the stem. The first version's suffix is "0000" and each new version increments it in base62.
"""

from __future__ import annotations

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_LEN = 4


def base62(n_chars: int) -> str:
    """n random base62 characters (uniform: bytes >= 248 are rejected, 248 = 4 * 62)."""
    out: list[str] = []
    while len(out) < n_chars:
        out.extend(BASE62[b % 62] for b in secrets.token_bytes(n_chars + 4) if b < 248)
    return "".join(out[:n_chars])


def increment_base62(s: str) -> str:
    """Return the next base62 string of the same width ("0009" -> "000A", "000z" -> "0010")."""
    digits = [BASE62.index(c) for c in s]
    i = len(digits) - 1
    while i >= 0:
        digits[i] += 1
        if digits[i] < 62:
            break
        digits[i] = 0
        i -= 1
    else:
        raise ValueError(f"version suffix {s!r} cannot be incremented further")
    return "".join(BASE62[d] for d in digits)


def new_versioned_uid(total_len: int, stem: str | None = None, previous_suffix: str | None = None) -> str:
    """A uid of `total_len` chars: a new family (stem=None) or the next version of `stem`."""
    stem_len = total_len - SUFFIX_LEN
    if stem is None:
        return base62(stem_len) + "0000"
    suffix = "0000" if previous_suffix is None else increment_base62(previous_suffix)
    return stem + suffix
