"""The OpenAPI schema documents GET /api/trackers/stream/ (a plain async view drf-spectacular can't see:
dashboard.stream.document_in_schema adds it): `text/event-stream`, the list's filters, `Last-Event-ID`,
and each error it answers with its body. The live server is checked against it with bounded reads in
tests/test_schema_conformance.py; its parameters are fuzzed in tests/test_fuzz_schema.py."""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from dashboard.filters import TrackerFilterSet
from dashboard.stream import IGNORED_LIST_PARAMETERS, document_in_schema

STREAM = "/api/trackers/stream/"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def validate(schema: dict, body, component: str) -> None:
    """`body` against one of the schema's components, its references resolved in the schema."""
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{component}", "components": schema["components"]})


def test_the_stream_is_an_event_stream_in_the_schema(schema):
    operation = schema["paths"][STREAM]["get"]
    ok = operation["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    assert ok["content"]["text/event-stream"]["schema"] == {"type": "string"}
    assert ok["headers"]["Cache-Control"]["schema"]["enum"] == ["no-cache"]
    assert operation["operationId"] == "trackers_stream"
    assert operation["security"] == schema["paths"]["/api/trackers/"]["get"]["security"]  # session or token
    assert list(schema["paths"][STREAM]) == ["get"]


def test_its_parameters_are_the_lists_filters_and_the_reconnect_cursor(schema):
    listing = {p["name"]: p for p in schema["paths"]["/api/trackers/"]["get"]["parameters"]}
    parameters = {p["name"]: p for p in schema["paths"][STREAM]["get"]["parameters"]}
    header = parameters.pop("Last-Event-ID")
    assert (header["in"], header["schema"]) == ("header", {"type": "string"})
    # Every filter the list documents, documented as the list documents it; paging and order are not a stream's.
    assert parameters == {name: p for name, p in listing.items() if name not in IGNORED_LIST_PARAMETERS}
    assert {"brand_ids", "production_run_ids", "status", "search", "lazy_load"} <= set(parameters)


def test_every_filter_the_stream_validates_is_documented(schema):
    # The stream validates with the list's FilterSet: a filter added there and not to the schema fails here.
    documented = {p["name"] for p in schema["paths"][STREAM]["get"]["parameters"] if p["in"] == "query"}
    assert documented == set(TrackerFilterSet.base_filters) - IGNORED_LIST_PARAMETERS


def test_its_errors_are_documented_with_their_bodies(schema):
    responses = schema["paths"][STREAM]["get"]["responses"]
    bodies = {status: r["content"]["application/json"]["schema"] for status, r in responses.items() if status != "200"}
    assert bodies == {
        "400": {"$ref": "#/components/schemas/FieldErrors"},
        "403": {"$ref": "#/components/schemas/Error"},
        "503": {"$ref": "#/components/schemas/Error"},
    }


def test_the_changes_event_data_is_a_component(schema):
    changes = schema["components"]["schemas"]["TrackerChanges"]
    assert changes["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Tracker"}
    validate(schema, {"items": [], "removed": [3, 4]}, "TrackerChanges")
    with pytest.raises(jsonschema.ValidationError):
        validate(schema, {"items": []}, "TrackerChanges")


@pytest.mark.django_db
def test_the_503_of_a_server_that_does_not_stream_is_the_documented_body(schema, owner_api):
    response = owner_api.get(STREAM)  # Django's test client is a WSGI handler: no stream there

    assert response.status_code == 503
    validate(schema, response.json(), "Error")


def test_a_schema_without_the_list_is_left_as_it_is():
    # A filtered schema (say, of other paths only) has no list to take the filters from: no stream, no error.
    only_reference = {"paths": {"/api/reference/": {}}}
    assert document_in_schema(only_reference, None, None, True) == {"paths": {"/api/reference/": {}}}


def test_the_schema_with_the_stream_validates(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/trackers/stream/:" in (tmp_path / "schema.yaml").read_text()
