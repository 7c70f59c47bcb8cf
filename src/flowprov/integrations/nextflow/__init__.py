"""Nextflow: ingest trace files and the run metadata beside them; wrap `nextflow run`."""

from flowprov.integrations.nextflow.ingest import IngestError, IngestResult, ingest, ingest_trace
from flowprov.integrations.nextflow.trace import TraceError

__all__ = ["IngestError", "IngestResult", "TraceError", "ingest", "ingest_trace"]
