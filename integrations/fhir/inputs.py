"""Reading what a FHIR client sends: paging numbers and JSON bodies (search parameter
values are read by ``search_params``).

Every helper either returns a value the queries below can use or raises ``FhirError``
(400, an OperationOutcome naming the parameter, never echoing its value), so malformed
input can never reach the database or the scheduling services.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, QueryDict
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from config.inputs import JsonRejected, load_json

from .http import FhirError

FHIR_JSON = "application/fhir+json"
FORMS = {"application/x-www-form-urlencoded", "multipart/form-data"}
DEFAULT_COUNT = 50
MAX_COUNT = 200
MAX_OFFSET = 1_000_000_000  # far past any result set, far below bigint
_INTEGER = re.compile(r"-?[0-9]{1,10}")

ERR_PAGING = f"_count and _offset must be integers (_offset at most {MAX_OFFSET})."
ERR_CONTENT_TYPE = (
    "Send the body as application/fhir+json (FHIR R4 http.html#mime-type: the correct mime "
    "type SHALL be used by clients)."
)
ERR_FORM_CONTENT_TYPE = "POST _search takes a form (application/x-www-form-urlencoded) body."
ERR_CHARSET = "FHIR bodies are UTF-8 (charset=utf-8)."
ERR_RESOURCE_TYPE = "The body must be a {expected} resource."


def paging(params: QueryDict) -> tuple[int, int]:
    """(_count, _offset): _count capped at MAX_COUNT, a negative _offset read as 0."""
    raw_count, raw_offset = params.get("_count", str(DEFAULT_COUNT)), params.get("_offset", "0")
    if not (_INTEGER.fullmatch(raw_count) and _INTEGER.fullmatch(raw_offset)):
        raise FhirError(400, "invalid", ERR_PAGING)
    count, offset = int(raw_count), int(raw_offset)
    if offset > MAX_OFFSET:
        raise FhirError(400, "invalid", ERR_PAGING)
    return min(max(count, 0), MAX_COUNT), max(offset, 0)


def _require_content_type(request: HttpRequest, expected: set[str], error: str) -> None:
    if request.content_type not in expected:
        raise FhirError(415, "not-supported", error)
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    if charset not in {"utf-8", "utf8"}:
        raise FhirError(415, "not-supported", ERR_CHARSET)


def require_form(request: HttpRequest) -> None:
    """POST _search reads a form (http.html#search names urlencoded; a multipart form is
    the same fields in another HTML encoding, and Django reads both alike)."""
    _require_content_type(request, FORMS, ERR_FORM_CONTENT_TYPE)


def _where(loc: tuple[Any, ...], resource_type: str) -> str:
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _problem(error: Any) -> str:
    # Pydantic's own messages can quote the input; ours name the expected shape only.
    kind = error.get("type", "")
    if kind == "list_type":
        return "expected an array"
    if kind in {"json_invalid", "model_validation_format", "dict_type", "model_type"}:
        return "expected an object"
    if kind.startswith(("string", "int", "float", "bool", "decimal", "date", "time", "url")):
        return f"not a valid {kind.split('_')[0]}"
    return "not valid here"


def json_resource(request: HttpRequest, resource_type: str) -> dict[str, Any]:
    """The request body as a ``resource_type`` resource, checked against the R4B model
    for shape (arrays where arrays belong, objects where objects belong, typed
    primitives). Missing elements are left to the operation, whose messages say what
    it needs; everything else malformed is a 400 naming the element's path."""
    _require_content_type(request, {FHIR_JSON}, ERR_CONTENT_TYPE)
    try:
        body = load_json(request.body or b"{}")
    except JsonRejected as exc:
        code = "too-long" if "nests" in str(exc) else "structure"
        raise FhirError(400, code, str(exc)) from None
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise FhirError(400, "structure", ERR_RESOURCE_TYPE.format(expected=resource_type))
    try:
        get_fhir_model_class(resource_type).model_validate(body)
    except ValidationError as exc:
        problems = [e for e in exc.errors() if e.get("type") != "missing"]
        if problems:
            first = problems[0]
            where = _where(tuple(first.get("loc", ())), resource_type)
            raise FhirError(400, "structure", f"{where}: {_problem(first)}.") from None
    return body
