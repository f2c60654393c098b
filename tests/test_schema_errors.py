"""Every operation's schema documents the error answers it can give, with their bodies (dashboard/schema.py);
the live conformance test (test_schema_conformance.py) checks the server against them."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR = {"$ref": "#/components/schemas/Error"}
FIELD_ERRORS = {"$ref": "#/components/schemas/FieldErrors"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def body(response: dict) -> dict:
    return response["content"]["application/json"]["schema"]


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_documents_403_with_the_error_body(schema):
    for name, operation in operations(schema):
        assert body(operation["responses"]["403"]) == ERROR, name


def test_query_parameters_document_the_field_errors_400(schema):
    responses = schema["paths"]["/api/trackers/"]["get"]["responses"]
    assert body(responses["400"]) == FIELD_ERRORS
    assert "400" not in schema["paths"]["/api/reference/"]["get"]["responses"]  # takes no parameter


def test_a_path_with_an_id_documents_404_and_a_body_413_and_415(schema):
    assert body(schema["paths"]["/api/trackers/{id}/"]["get"]["responses"]["404"]) == ERROR
    assert "404" not in schema["paths"]["/api/trackers/"]["get"]["responses"]
    preferences = schema["paths"]["/api/me/preferences/"]["patch"]["responses"]
    assert body(preferences["400"]) == {"anyOf": [FIELD_ERRORS, ERROR]}  # a field, or a body that isn't JSON
    assert body(preferences["413"]) == body(preferences["415"]) == ERROR


def test_throttled_operations_document_429_with_retry_after(schema):
    for path in ("/api/telemetry/", "/api/auth/token/"):
        throttled = schema["paths"][path]["post"]["responses"]["429"]
        assert body(throttled) == ERROR
        assert throttled["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert "429" not in schema["paths"]["/api/trackers/"]["get"]["responses"]


def test_the_ingest_body_is_documented_as_validated(schema):
    request = schema["paths"]["/api/location-reports/"]["post"]["requestBody"]
    assert list(request["content"]) == ["application/json"]
    batch = request["content"]["application/json"]["schema"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 10_000)
    row = schema["components"]["schemas"]["LocationReportRequest"]
    tracker = row["properties"]["tracker"]
    assert (tracker["type"], tracker["minLength"], tracker["maxLength"]) == ("string", 1, 64)
    assert (row["properties"]["latitude"]["minimum"], row["properties"]["latitude"]["maximum"]) == (-90, 90)
    errors = body(schema["paths"]["/api/location-reports/"]["post"]["responses"]["400"])
    assert errors == {"anyOf": [{"$ref": "#/components/schemas/IngestErrors"}, ERROR]}


def test_the_token_body_needs_both_fields_non_blank(schema):
    request = schema["components"]["schemas"]["TokenRequest"]
    assert request["required"] == ["password", "username"]
    assert request["properties"]["username"]["minLength"] == 1
    assert "token" not in request["properties"]  # the answer's field, not the request's


def test_ids_and_pages_carry_the_bounds_the_api_checks(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/trackers/"]["get"]["parameters"]}
    assert parameters["brand_ids"]["items"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert parameters["page"]["maximum"] == (2**63 - 1) // 5000
