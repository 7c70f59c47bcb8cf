"""The runs page's URL: filters are the Python API's lookups (`?status=errored&params__n__gt=3`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flowprov.core.exceptions import FieldError

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# parameters of the page itself; every other one is a lookup
RESERVED = {"page", "per_page", "sort", "q"}
# only indexed columns: sorting 1,000,000 runs by anything else takes seconds
SORTABLE = ("started_at", "reference_type", "reference", "uid", "id")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass
class RunsQuery:
    """What a runs URL asks for: lookups, a search string, a sort and a page."""

    lookups: dict[str, Any] = field(default_factory=dict)
    search: str = ""
    sort: str = "-started_at"
    page: int = 1
    per_page: int = PAGE_SIZE

    def url_params(self, **changes: Any) -> dict[str, Any]:
        """The query string of this view with some parameters changed (for links)."""
        params: dict[str, Any] = {k: raw_value(v) for k, v in self.lookups.items()}
        params.update({"q": self.search, "sort": self.sort, "page": self.page, "per_page": self.per_page})
        params.update(changes)
        return {k: v for k, v in params.items() if v not in ("", None) and not (k == "per_page" and v == PAGE_SIZE)}


def raw_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lookup_value(key: str, text: str) -> Any:
    """A URL string as the value the lookup expects: lists for `__in`, booleans for `__isnull`,
    numbers for params and numeric comparisons (a reference or a name stays a string)."""
    if key.endswith("__in"):
        return [lookup_value(key[:-4], part) for part in text.split(",")]
    if key.endswith("__isnull"):
        return text.lower() in ("1", "true", "yes")
    numeric = key.startswith("params__") or key.startswith("aux__") or key.endswith(("__gt", "__gte", "__lt", "__lte"))
    if numeric and NUMBER.fullmatch(text) and not key.split("__")[0].endswith("_at"):
        return float(text) if "." in text else int(text)
    return text


def _positive_int(params: Any, name: str, default: int, maximum: int) -> int:
    text = params.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise FieldError(f"{name}={text!r}: use a whole number of at least 1")
    return min(int(text), maximum)


def parse_runs_query(params: Any) -> RunsQuery:
    """A RunsQuery from request query parameters; bad values raise FieldError with the field named."""
    sort = params.get("sort") or "-started_at"
    if sort.lstrip("-") not in SORTABLE:
        raise FieldError(f"sort={sort!r}: sort by one of {', '.join(SORTABLE)} (prefix - for descending)")
    lookups = {k: lookup_value(k, v) for k, v in params.items() if k not in RESERVED and v != ""}
    return RunsQuery(
        lookups=lookups,
        search=(params.get("q") or "").strip(),
        sort=sort,
        page=_positive_int(params, "page", 1, 10**9),
        per_page=_positive_int(params, "per_page", PAGE_SIZE, MAX_PAGE_SIZE),
    )
