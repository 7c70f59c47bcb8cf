"""Secrets are never stored or printed: the one place that decides what a secret looks like.

- Values under secret-looking keys (`password`, `token`, `api_key`, ... and whole-word `pwd`,
  `auth`, `pat`, `bearer`, `pass`; extend with FLOWPROV_SECRET_KEYS="a,b") become "***".
- The password part of any URL (`postgresql://user:PASSWORD@host/db`, `s3://KEY:SECRET@bucket`),
  secret-named query parameters of a URL (`?key=`, `&sig=`, `?access_token=`) and the token after
  `Bearer` become "***" wherever they appear in a stored or printed string.
- Command lines: the value of a secret-looking option (`--password X`, `--auth=X`) becomes "***".

This module is a leaf: every layer may use it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

REDACTED = "***"
# Matched anywhere in a key ("db_password", "GITHUB_TOKEN").
SECRET_KEY_FRAGMENTS = (
    "password",
    "passwd",
    "token",
    "secret",
    "api_key",
    "apikey",
    "access_key",
    "credentials",
    "private_key",
    "authorization",
)
# Matched as a whole word only: as fragments they would hide "author", "path", "passes".
SECRET_KEY_WORDS = ("pwd", "auth", "pat", "bearer", "pass")

_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@\"']*):([^@\s/\"']+)@")
_BEARER = re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
_URL_QUERY_ITEM = re.compile(r"(?P<sep>[?&])(?P<name>[^=&#\s\"']+)=(?P<value>[^&#\s'\"]*)")
# API keys in URLs (`?key=...`, signed URLs' `sig=`) go by names too short to be fragments
URL_SECRET_PARAMETERS = ("key", "sig", "signature", "auth")


def secret_key_pattern() -> re.Pattern[str]:
    """A pattern whose `search()` finds a secret-looking key (after `-` → `_`)."""
    return _secret_key_pattern(os.environ.get("FLOWPROV_SECRET_KEYS", ""))


@functools.lru_cache(maxsize=8)
def _secret_key_pattern(extra_keys: str) -> re.Pattern[str]:
    # built once per value of FLOWPROV_SECRET_KEYS: every saved run's params ask for it
    extra = [k.strip().lower() for k in extra_keys.split(",") if k.strip()]
    fragments = [re.escape(k) for k in (*SECRET_KEY_FRAGMENTS, *extra)]
    words = "|".join(re.escape(w) for w in SECRET_KEY_WORDS)
    return re.compile("|".join(fragments) + rf"|(?:^|[^a-z0-9])(?:{words})(?:$|[^a-z0-9])", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    return bool(secret_key_pattern().search(str(key).replace("-", "_")))


def redact_text(text: str) -> str:
    """`text` with URL passwords and bearer tokens replaced by "***"."""
    if "://" not in text and "earer" not in text:  # the common case costs two substring checks
        return text
    text = _BEARER.sub(rf"\g<1>{REDACTED}", _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text))
    return _URL_QUERY_ITEM.sub(_redact_query_item, text) if "://" in text else text


def _redact_query_item(match: re.Match[str]) -> str:
    name = match["name"]
    secret = name.lower() in URL_SECRET_PARAMETERS or is_secret_key(name)
    return f"{match['sep']}{name}={REDACTED}" if secret else match[0]


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line arguments with the values of secret-looking options replaced by "***"."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and "=" in arg:
            name, _ = arg.split("=", 1)
            out.append(f"{name}={REDACTED}" if is_secret_key(name.lstrip("-")) else redact_text(arg))
            continue
        if arg.startswith("-") and is_secret_key(arg.lstrip("-")):
            hide_next = True
        out.append(redact_text(arg))
    return out


def redacting_json_dumps(value: Any) -> str:
    """The JSON serialiser of every store: no URL password reaches a JSON column.

    Non-ASCII stays as it is (not `\\u00df`), so SQLite's stored text matches what queries compare.
    """
    text = json.dumps(value, ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (undecodable file names) stay escaped
            text = json.dumps(value)
    return redact_text(text)
