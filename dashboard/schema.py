"""The OpenAPI schema's error answers: every operation documents the 4xx statuses it can answer, with their bodies.

drf-spectacular documents what a view's decorations say (mostly the 200). The statuses an
operation can answer besides follow from how the view is configured, so they are derived here
once, for every operation, instead of being repeated in each `extend_schema`:

| status | when | body |
|---|---|---|
| 400 | it takes query parameters or a body | `FieldErrors` `{"size": ["..."]}`; `Error` for a body that isn't JSON |
| 403 | it authenticates or checks permissions | `Error` |
| 404 | its path names an object | `Error` |
| 413 | it takes a body | `Error` |
| 415 | it takes a body | `Error` |
| 429 | it is throttled (DRF throttles, or `may_throttle = True` on the view) | `Error`, with `Retry-After` |

DRF answers 403, never 401, to a request without valid credentials: session authentication comes
first, and DRF takes the first authenticator's `WWW-Authenticate` (none) to decide.
A status the view's own decorations document is left as they say it. A list body also carries its
serializer's bounds (`minItems`, `maxItems`), which drf-spectacular leaves out.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent, force_instance, is_list_serializer
from rest_framework import serializers

FIELD_ERRORS = {
    "type": "object",
    "description": (
        "DRF's validation errors: each bad parameter or field with its messages, "
        "nested as the body nests (a list's items by position, an object's fields by name)."
    ),
    "additionalProperties": {"$ref": "#/components/schemas/ErrorMessages"},
    "example": {"size": ["Ensure this value is less than or equal to 5000."]},
}
ERROR_MESSAGES = {
    "description": "The messages of one field: a list of strings, or of a nested field's errors.",
    "anyOf": [
        {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/FieldErrors"}]}},
        {"$ref": "#/components/schemas/FieldErrors"},
    ],
}
ERROR = {
    "type": "object",
    "description": "One message: authentication, permission, not found, parse errors, limits, throttling.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "example": {"detail": "Not found."},
}
INGEST_ERRORS = {
    "type": "object",
    "description": "A batch's bad rows by index, each with its fields' messages (`non_field_errors`: the batch).",
    "additionalProperties": {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"$ref": "#/components/schemas/FieldErrors"}]
    },
    "example": {"3": {"latitude": ["Ensure this value is less than or equal to 90."]}},
}
COMPONENTS = {
    "FieldErrors": FIELD_ERRORS,
    "ErrorMessages": ERROR_MESSAGES,
    "Error": ERROR,
    "IngestErrors": INGEST_ERRORS,
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}

DESCRIPTIONS = {
    "400": "A bad parameter or field, named in the body; nothing was changed.",
    "403": "Not authenticated (no session, no or a bad token), or not permitted.",
    "404": "Not found, or not in your scope.",
    "413": "The body is larger than the server accepts.",
    "415": "The body's Content-Type is not one the operation accepts.",
    "429": "Too many requests: wait Retry-After seconds.",
}


def component_ref(name: str) -> dict:
    """A reference to one of the error bodies (`COMPONENTS`), for a view's own decorations."""
    assert name in COMPONENTS, name
    return {"$ref": f"#/components/schemas/{name}"}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for name, body in COMPONENTS.items():
            self.registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=body, object=name)
            )
        body = operation.get("requestBody")
        if body and any(media.get("schema", {}).get("required") for media in body["content"].values()):
            # An absent body is DRF's `{}`: a body with required fields is itself required (drf-spectacular
            # only says so of a serializer's component, not of a schema given as a dict).
            body["required"] = True
        responses = operation.setdefault("responses", {})
        for status, body, headers in self._error_answers(operation):
            if status not in responses:
                responses[status] = {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": body}},
                    **({"headers": headers} if headers else {}),
                }
        return operation

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        return _with_list_bounds(force_instance(serializer), schema), required

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and isinstance(schema, dict)
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "enum" not in schema
        ):
            # DRF's CharField refuses NUL characters (ProhibitNullCharactersValidator): say so.
            schema = {**schema, "pattern": "^[^\\u0000]*$"}
        return _with_list_bounds(field, schema)

    def _error_answers(self, operation: dict):
        field_errors, error = component_ref("FieldErrors"), component_ref("Error")
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        if has_body:
            yield "400", {"anyOf": [field_errors, error]}, None
        elif any(parameter["in"] == "query" for parameter in parameters):
            yield "400", field_errors, None
        if self.view.authentication_classes or self.view.permission_classes:
            yield "403", error, None
        if any(parameter["in"] == "path" for parameter in parameters):
            yield "404", error, None
        if has_body:
            yield "413", error, None
            yield "415", error, None
        if getattr(self.view, "throttle_classes", None) or getattr(self.view, "may_throttle", False):
            yield "429", error, RETRY_AFTER


def _with_list_bounds(serializer, schema: dict | None) -> dict | None:
    """A list serializer's `allow_empty`, `min_length` and `max_length` as `minItems` / `maxItems`."""
    if not is_list_serializer(serializer) or not schema or schema.get("type") != "array":
        return schema
    minimum = serializer.min_length or 0
    if not serializer.allow_empty:
        minimum = max(1, minimum)
    if minimum:
        schema["minItems"] = minimum
    if serializer.max_length is not None:
        schema["maxItems"] = serializer.max_length
    return schema
