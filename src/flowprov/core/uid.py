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


_TO_BASE62 = bytes(ord(BASE62[b % 62]) for b in range(256))
_REJECTED = bytes(range(248, 256))  # rejected so that b % 62 is uniform (248 = 4 * 62)


def base62_many(count: int, n_chars: int) -> list[str]:
    """`count` uids of n random base62 characters each, as `base62` makes them, in a few C calls."""
    need = count * n_chars
    chars = b""
    while len(chars) < need:
        chars += secrets.token_bytes(need - len(chars) + need // 32 + 8).translate(None, _REJECTED)
    text = chars[:need].translate(_TO_BASE62).decode("ascii")
    return [text[i : i + n_chars] for i in range(0, need, n_chars)]


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
