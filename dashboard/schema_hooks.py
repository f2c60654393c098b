"""drf-spectacular postprocessing: what a serializer can't say in the schema by itself."""

from __future__ import annotations

from dashboard.serializers import MAX_INGEST_BATCH


def ingest_batch_bounds(result: dict, generator, request, public) -> dict:
    """The ingest body holds 1 to 10,000 reports (`LocationReportBatchSerializer`); drf-spectacular
    writes a top-level list serializer as an unbounded array."""
    operation = result["paths"].get("/api/location-reports/", {}).get("post")
    if operation:
        for content in operation["requestBody"]["content"].values():
            content["schema"].update(minItems=1, maxItems=MAX_INGEST_BATCH)
    return result
