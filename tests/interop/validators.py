"""The real validators, run offline: OpenLineage's JSON Schemas, rocrate-validator, runcrate, PROV-JSON."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

# no import of tests.conftest: examples/demo.py loads this file too, to validate its crate offline
DATA = Path(__file__).resolve().parents[1] / "data"
BIN = Path(sys.executable).parent
RO_CRATE_CONTEXT_URL = "https://w3id.org/ro/crate/1.1/context"


@cache
def openlineage_registry() -> Any:
    from referencing import Registry, Resource

    resources = []
    for path in [DATA / "openlineage" / "OpenLineage.json", *sorted((DATA / "openlineage" / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validator(ref: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": ref}, registry=openlineage_registry())


def openlineage_errors(event: dict[str, Any]) -> list[str]:
    """Errors of one event against spec 2-0-2, and of each facet against the schema its _schemaURL names."""
    errors = [
        f"event: {e.message}"
        for e in _validator("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent").iter_errors(event)
    ]
    facets: list[dict[str, Any]] = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        facets += [*dataset.get("facets", {}).values(), *dataset.get("inputFacets", {}).values()]
        facets += dataset.get("outputFacets", {}).values()
    for facet in facets:
        url = facet["_schemaURL"]
        assert url.startswith("https://openlineage.io/spec/facets/"), url  # only official facets are written
        errors += [f"{url}: {e.message}" for e in _validator(url).iter_errors(facet)]
    return errors


def seed_validator_cache(cache_name: Path) -> Path:
    """A requests-cache SQLite file holding the official RO-Crate 1.1 context, for `--offline`.

    rocrate-validator opens `CachedSession(cache_name=--cache-path, backend="sqlite")` and, offline,
    answers only from it (utils/http.py of roc-validator); this stores the context as that session
    would have after fetching it.
    """
    import requests
    import urllib3
    from requests.structures import CaseInsensitiveDict
    from requests_cache import CachedSession

    body = (DATA / "ro-crate" / "context-1.1.jsonld").read_bytes()
    headers = {"Content-Type": "application/ld+json"}
    response = requests.Response()
    response.status_code, response.reason, response.url, response.encoding = 200, "OK", RO_CRATE_CONTEXT_URL, "utf-8"
    response._content = body
    response.headers = CaseInsensitiveDict(headers)
    response.raw = urllib3.HTTPResponse(
        body=io.BytesIO(body), headers=headers, status=200, preload_content=False, request_url=RO_CRATE_CONTEXT_URL
    )
    response.request = requests.Request("GET", RO_CRATE_CONTEXT_URL).prepare()
    session = CachedSession(cache_name=str(cache_name), backend="sqlite", expire_after=-1)
    session.cache.save_response(response)
    session.close()
    return cache_name


def validate_crate(crate: Path, cache_name: Path, level: str = "required") -> dict[str, Any]:
    """rocrate-validator's JSON report for the provenance-run-crate-0.5 profile, offline.

    Its JSON output fails on a zip crate ("Object of type URI is not JSON serializable", 0.13.0):
    a zip is validated with the text report, which ends with "[OK] RO-Crate is a valid ...".
    """
    zipped = crate.suffix == ".zip"
    result = subprocess.run(
        [
            str(BIN / "rocrate-validator"),
            "-y",
            "--disable-color",
            "validate",
            "--no-paging",
            "--offline",
            "--cache-path",
            str(cache_name),
            "-p",
            "provenance-run-crate-0.5",
            "-l",
            level,
            *([] if zipped else ["-f", "json"]),
            str(crate),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if zipped:
        ok = result.returncode == 0 and "[OK] RO-Crate is a valid provenance-run-crate-0.5" in result.stdout
        return {"passed": ok, "issues": [] if ok else [result.stdout[-3000:] + result.stderr[-2000:]]}
    start = result.stdout.find("{")
    assert start >= 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout[start:])


def runcrate_report(crate: Path) -> str:
    result = subprocess.run(
        [str(BIN / "runcrate"), "report", str(crate)], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def prov_json_errors(document: dict[str, Any]) -> list[str]:
    from jsonschema import Draft4Validator

    schema = json.loads((DATA / "prov" / "prov-json.schema.json").read_text())
    return [e.message for e in Draft4Validator(schema).iter_errors(document)]
