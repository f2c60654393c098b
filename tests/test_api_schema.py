"""The OpenAPI schema validates and documents every tracker parameter."""

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
