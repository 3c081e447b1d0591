"""The OpenAPI schema of /api/v1/ as the API really answers (REST_FRAMEWORK's
DEFAULT_SCHEMA_CLASS), so clients generated from it handle every answer:

- Errors. Every operation documents 400, 401, 403 and 404, and 409 and 415 where it
  takes a body, all with one error shape (a view's own 409 body is kept): DRF's
  validation errors (field name -> messages), ``detail`` alone (authentication,
  permission, parse and not-found errors), or a refused action's ``detail``, ``code``
  and ``reasons`` (scheduling service errors).
- Blank strings. A DRF ``CharField`` without ``allow_blank`` refuses "" and, since it
  trims whitespace first, "   " too; request schemas say so (``minLength`` 1 and a
  non-space character), instead of promising that any string is accepted.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "An error. Validation errors map each field name (or non_field_errors) to its "
        "messages; other errors carry detail, and a refused scheduling action also its "
        "code and reasons."
    ),
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "code": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {},
}
ERROR_DESCRIPTIONS = {
    "400": "The request is malformed or a field is invalid.",
    "401": "No valid credentials (send Authorization: Bearer <token>).",
    "403": "The role or the rules do not allow this.",
    "404": "No such resource, or none of yours.",
    "409": "The action conflicts with the current state (a slot taken, a hold expired).",
    "415": "The body is not JSON.",
}
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class HubAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404"]
        if self.method in _BODY_METHODS:
            codes.append("415")
            if "409" not in responses:  # a view's own 409 body (duplicates) stays
                codes.append("409")
        for code in codes:
            # The error shape replaces a narrower one a view declared (a 400 that named
            # only the service error's shape also answers DRF's field errors).
            responses[code] = {
                "description": ERROR_DESCRIPTIONS[code],
                "content": {"application/json": {"schema": ERROR_SCHEMA}},
            }
        return responses

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> Any:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and schema.get("type") == "string"
            and "enum" not in schema
        ):
            schema["minLength"] = max(schema.get("minLength", 0), 1)
            if field.trim_whitespace and "pattern" not in schema and "format" not in schema:
                schema["pattern"] = r"\S"
        return schema
