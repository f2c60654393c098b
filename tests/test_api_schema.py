"""The OpenAPI schema validates and documents every tracker parameter."""

import json
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command


def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    parameters = {p["name"]: p for p in schema["paths"]["/api/trackers/"]["get"]["parameters"]}
    assert set(parameters) >= {
        "brand_ids",
        "production_run_ids",
        "status",
        "search",
        "include_latest_location",
        "lazy_load",
        "page",
        "size",
        "ordering",
    }
    assert parameters["size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 5000, "default": 100}
    assert parameters["include_latest_location"]["schema"]["default"] is True
    assert "/api/location-reports/" in schema["paths"]


@pytest.mark.django_db
def test_the_schema_and_docs_pages_are_served(staff_api):
    assert staff_api.get("/api/schema/").status_code == 200
    docs = staff_api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content  # no CDN


# Taken from main before the API became viewsets on a router (the fixture's commit says so):
# a refactoring of the views must not move a path, a method or a parameter. A change that
# means to alter the API updates the fixture in the same commit, so the diff shows it.
SNAPSHOT = Path(__file__).parent / "fixtures" / "openapi_paths_methods_parameters.json"


def paths_methods_parameters(schema: dict) -> dict:
    """path → method → its parameters (whole objects: name, in, schema, description…), in a stable order."""
    return {
        path: {
            method: sorted(operation.get("parameters", []), key=lambda p: (p["in"], p["name"]))
            for method, operation in operations.items()
        }
        for path, operations in schema["paths"].items()
    }


def test_the_schema_paths_methods_and_parameters_match_the_snapshot(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    current = paths_methods_parameters(yaml.safe_load(target.read_text()))
    snapshot = json.loads(SNAPSHOT.read_text())
    assert sorted(current) == sorted(snapshot)  # the same paths
    for path in snapshot:
        assert sorted(current[path]) == sorted(snapshot[path]), path  # the same methods
        assert current[path] == snapshot[path], path  # the same parameters
