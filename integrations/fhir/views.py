"""FHIR R4 server facade at /fhir/r4/: read and search, Appointment create, and the IHE
ITI Scheduling operations $find, $hold and $book on top of the same scheduling services
and rules as the console.

Thin views: parameters are parsed here, reads go through querysets below, writes through
scheduling.services. Search also accepts POST [type]/_search (form body), which keeps
names and birth dates out of URLs and logs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict

from config.audit import audit_access
from config.inputs import parse_id
from config.permissions import (
    ACCESS_ALL_REGIONS,
    ADD_APPOINTMENT,
    VIEW_APPOINTMENT,
    VIEW_PATIENT,
)
from patients.models import Patient
from patients.mpi.upsert import dob_index, identifier_index
from patients.names import patient_name_keys_containing
from scheduling.models import Appointment, AppointmentType, Location, Provider, Slot
from scheduling.selectors import appointments_in_scope, patients_in_scope

from . import resources as r
from . import search_params as sp
from .http import (
    ERR_METHOD,
    ERR_NOT_FOUND,
    ERR_UNKNOWN_TYPE,
    FhirError,
    fhir_response,
    fhir_view,
    require,
)
from .inputs import json_resource, paging, require_form

ERR_PATIENT_SEARCH_NEEDS_PARAMS = (
    "Patient search needs at least one of: identifier, name, family, given, birthdate, _id."
)
PATIENT_SEARCH_PARAMS = ("identifier", "name", "family", "given", "birthdate", "_id")

VIEW_PERMS = {
    "Patient": VIEW_PATIENT,
    "Practitioner": VIEW_APPOINTMENT,
    "Location": VIEW_APPOINTMENT,
    "Schedule": VIEW_APPOINTMENT,
    "Slot": VIEW_APPOINTMENT,
    "Appointment": VIEW_APPOINTMENT,
}
BOOK_PERM = ADD_APPOINTMENT
# R4 SlotStatus -> the hub's slot status (the inverse of resources.slot_resource).
SLOT_STATUS = {"free": "free", "busy": "booked", "busy-unavailable": "blocked"}


# -- search parameter helpers ---------------------------------------------------------
def _ref_filter(qs: QuerySet[Any], field: str, value: str, resource_type: str, name: str) -> Any:
    """Filter on a reference parameter; an id that is not the hub's matches nothing."""
    pk = sp.reference(value, resource_type, name).pk
    return qs.filter(**{field: pk}) if pk is not None else qs.none()


def _token(value: str) -> tuple[str, str]:
    system, sep, code = value.partition("|")
    return (system, code) if sep else ("", value)


def _patient_qs(params: QueryDict) -> QuerySet[Patient]:
    qs = Patient.objects.prefetch_related("identifiers")
    for value in params.getlist("identifier"):
        system, code = _token(value)
        authority = r.source_authority(system)
        if system == r.PATIENT_SYSTEM:
            pk = sp.resource_id(code, "identifier") if code else None
            qs = qs.filter(pk=pk) if pk is not None else qs.none()
        elif authority is not None:
            qs = qs.filter(
                identifiers__system=authority, identifiers__value_bidx=identifier_index(code)
            )
        else:
            qs = qs.filter(identifiers__value_bidx=identifier_index(code))
    # Names are encrypted: the distinct-name cache finds which names contain the text,
    # the name blind indexes find the patients.
    for value in params.getlist("name"):
        qs = qs.filter(
            Q(first_name_bidx__in=patient_name_keys_containing(kind="first", text=value))
            | Q(last_name_bidx__in=patient_name_keys_containing(kind="last", text=value))
        )
    for value in params.getlist("family"):
        qs = qs.filter(last_name_bidx__in=patient_name_keys_containing(kind="last", text=value))
    for value in params.getlist("given"):
        qs = qs.filter(first_name_bidx__in=patient_name_keys_containing(kind="first", text=value))
    for value in params.getlist("birthdate"):
        qs = _birthdate_filter(qs, value)
    return qs.order_by("pk")


def _birthdate_filter(qs: QuerySet[Patient], value: str) -> QuerySet[Patient]:
    """birthDate is encrypted: an exact day goes through its blind index; any other
    precision or prefix narrows by the clear birth year in SQL, then compares the
    decrypted dates of that (bounded) candidate set."""
    prefix, low, high = sp.date_bounds(value, "birthdate")
    lower, upper = low.date(), high.date()
    if prefix == "eq" and upper - lower == timedelta(days=1):
        return qs.filter(date_of_birth_bidx=dob_index(lower))
    years = {
        "eq": Q(birth_year__gte=lower.year, birth_year__lte=upper.year),
        "ne": Q(),
        "gt": Q(birth_year__gte=upper.year),
        "sa": Q(birth_year__gte=upper.year),
        "ge": Q(birth_year__gte=lower.year),
        "lt": Q(birth_year__lte=lower.year),
        "eb": Q(birth_year__lte=lower.year),
        "le": Q(birth_year__lte=upper.year),
    }[prefix]

    def holds(born: date) -> bool:
        inside = lower <= born < upper
        return {
            "eq": inside,
            "ne": not inside,
            "gt": born >= upper,
            "sa": born >= upper,
            "ge": born >= lower,
            "lt": born < lower,
            "eb": born < lower,
            "le": born < upper,
        }[prefix]

    candidates = qs.filter(years).order_by().values_list("pk", "date_of_birth")
    return qs.filter(pk__in=[pk for pk, born in candidates if born and holds(born)])


def _practitioner_qs(params: QueryDict) -> QuerySet[Provider]:
    qs = Provider.objects.all()
    for value in params.getlist("identifier"):
        qs = qs.filter(npi=_token(value)[1])
    for value in params.getlist("name"):
        qs = qs.filter(Q(first_name__icontains=value) | Q(last_name__icontains=value))
    return qs.order_by("pk")


def _location_qs(params: QueryDict) -> QuerySet[Location]:
    qs = Location.objects.all()
    for value in params.getlist("identifier"):
        qs = qs.filter(code=_token(value)[1])
    for value in params.getlist("name"):
        qs = qs.filter(name__icontains=value)
    return qs.order_by("pk")


def _schedules(params: QueryDict) -> list[tuple[Provider, Location]]:
    pairs = Provider.locations.through.objects.select_related("provider", "location")
    for value in params.getlist("actor"):
        # Schedule.actor may be several types, so a bare [id] is ambiguous here.
        if "/" not in value:
            raise FhirError(400, "invalid", "actor: expected Practitioner/<id> or Location/<id>")
        if "Location/" in value:
            pairs = _ref_filter(pairs, "location_id", value, "Location", "actor")
        else:
            pairs = _ref_filter(pairs, "provider_id", value, "Practitioner", "actor")
    return [(p.provider, p.location) for p in pairs.order_by("provider_id", "location_id")]


def _schedule_key(value: str) -> tuple[int, int] | None:
    """A Schedule id is "<provider>-<location>"; any other valid id names nothing."""
    ident = sp.reference(value, "Schedule", "schedule").id
    provider, _, location = ident.partition("-")
    provider_pk, location_pk = parse_id(provider), parse_id(location)
    if provider_pk is None or location_pk is None:
        return None
    return provider_pk, location_pk


def _slot_qs(params: QueryDict) -> QuerySet[Slot]:
    qs = Slot.objects.all()
    for value in params.getlist("schedule"):
        key = _schedule_key(value)
        qs = qs.filter(provider_id=key[0], location_id=key[1]) if key else qs.none()
    if params.getlist("start"):
        qs = qs.filter(sp.date_filter("start", params.getlist("start"), "start"))
    if params.getlist("status"):
        # R4 SlotStatus codes the hub never gives a slot (busy-tentative,
        # entered-in-error) are valid and match nothing.
        codes = [sp.token(v)[1] for v in sp.split_or(params.getlist("status"))]
        qs = qs.filter(status__in=[SLOT_STATUS[c] for c in codes if c in SLOT_STATUS])
    for value in params.getlist("service-type"):
        code = _token(value)[1]
        atype = AppointmentType.objects.filter(code=code).first()
        if atype is None:
            return qs.none()
        for capability in atype.required_capabilities.all():
            qs = qs.filter(provider__capabilities=capability)
        for equipment in atype.required_equipment.all():
            qs = qs.filter(location__equipment=equipment)
    return qs.order_by("start", "pk")


def _appointment_qs(params: QueryDict) -> QuerySet[Appointment]:
    qs = Appointment.objects.select_related(
        "provider", "location", "appointment_type"
    ).prefetch_related("slot_links")
    for value in params.getlist("patient"):
        qs = _ref_filter(qs, "patient_id", value, "Patient", "patient")
    for value in params.getlist("location"):
        qs = _ref_filter(qs, "location_id", value, "Location", "location")
    for value in params.getlist("practitioner"):
        qs = _ref_filter(qs, "provider_id", value, "Practitioner", "practitioner")
    if params.getlist("date"):
        qs = qs.filter(sp.date_filter("start", params.getlist("date"), "date"))
    if params.getlist("status"):
        codes = {sp.token(v)[1] for v in sp.split_or(params.getlist("status"))}
        qs = qs.filter(status__in=[k for k, v in r.APPOINTMENT_STATUS.items() if v in codes])
    return qs.order_by("start", "pk")


SEARCHES: dict[str, Any] = {
    "Patient": (_patient_qs, r.patient_resource),
    "Practitioner": (_practitioner_qs, r.practitioner_resource),
    "Location": (_location_qs, r.location_resource),
    "Slot": (_slot_qs, r.slot_resource),
    "Appointment": (_appointment_qs, r.appointment_resource),
}
SUPPORTED = [*SEARCHES, "Schedule"]


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/r4/").rstrip("/")


# Parameters that identify no patient: kept in the links of a POST search. Anything
# else (name, family, given, birthdate, identifier, ...) is left out.
LINK_SAFE_PARAMS = frozenset(
    {
        "_count",
        "_offset",
        "_id",
        "schedule",
        "start",
        "status",
        "service-type",
        "date",
        "location",
        "practitioner",
        "actor",
    }
)


def _link(url: str, params: QueryDict) -> str:
    query = params.urlencode()
    return f"{url}?{query}" if query else url


def _bundle(
    request: HttpRequest,
    resource_type: str,
    items: list[Any],
    total: int,
    params: QueryDict,
    offset: int,
    count: int,
) -> dict[str, Any]:
    base = _base(request)
    search_url = f"{base}/{resource_type}"
    if request.method == "POST":
        # POST _search exists to keep names, birth dates and identifiers out of URLs
        # (proxies and access logs keep URLs): its links must not put them back. They
        # point at _search with only the non-PHI parameters; to page, the client posts
        # the same form body to the next link (query parameters override the body's).
        search_url = f"{search_url}/_search"
        params = params.copy()
        for name in list(params):
            if name not in LINK_SAFE_PARAMS:
                del params[name]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": _link(search_url, params)}],
    }
    if items:  # json.html: an array is never empty; an empty searchset has no "entry"
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource_type}/{res['id']}",
                "resource": res,
                "search": {"mode": "match"},
            }
            for res in items
        ]
    if offset + count < total:
        following = params.copy()
        following["_offset"] = str(offset + count)
        bundle["link"].append({"relation": "next", "url": _link(search_url, following)})
    return bundle


# Resources that carry PHI: showing one writes an ACCESS entry for the row behind it.
PHI_TYPES = {"Patient", "Appointment"}


def _in_scope(user: Any, resource_type: str, qs: QuerySet[Any]) -> QuerySet[Any]:
    """Patients and appointments outside an agent's region are absent (404, not 403)."""
    if resource_type == "Patient":
        return patients_in_scope(user, qs)
    if resource_type == "Appointment":
        return appointments_in_scope(user, qs)
    return qs


def _search(
    request: HttpRequest, user: Any, resource_type: str, params: QueryDict, surface: str
) -> HttpResponse:
    try:
        return _search_parsed(request, user, resource_type, params, surface)
    except sp.SearchValueError as exc:
        raise FhirError(400, "invalid", str(exc)) from None


def _search_parsed(
    request: HttpRequest, user: Any, resource_type: str, params: QueryDict, surface: str
) -> HttpResponse:
    count, offset = paging(params)
    if (
        resource_type == "Patient"
        and not user.has_perm(ACCESS_ALL_REGIONS)
        and not any(v.strip() for name in PATIENT_SEARCH_PARAMS for v in params.getlist(name))
    ):
        # An agent looks a caller up; listing every patient page by page is not that.
        raise FhirError(400, "required", ERR_PATIENT_SEARCH_NEEDS_PARAMS)
    if resource_type == "Schedule":
        pairs = _schedules(params)
        if "_id" in params:
            wanted = set(sp.split_or(params.getlist("_id")))
            pairs = [(p, loc) for p, loc in pairs if r.schedule_id(p.pk, loc.pk) in wanted]
        items = [r.schedule_resource(p, loc) for p, loc in pairs[offset : offset + count]]
        return fhir_response(_bundle(request, "Schedule", items, len(pairs), params, offset, count))
    build_qs, to_resource = SEARCHES[resource_type]
    qs = _in_scope(user, resource_type, build_qs(params))
    if (
        resource_type in {"Patient", "Practitioner", "Location", "Slot", "Appointment"}
        and "_id" in params
    ):
        ids = [sp.resource_id(v, "_id") for v in sp.split_or(params.getlist("_id"))]
        qs = qs.filter(pk__in=[pk for pk in ids if pk is not None])
    total = qs.count()
    rows = list(qs[offset : offset + count])
    items = [to_resource(obj) for obj in rows]
    if resource_type in PHI_TYPES:
        audit_access(actor=user, instances=rows, surface=surface)
    return fhir_response(_bundle(request, resource_type, items, total, params, offset, count))


def _read(user: Any, resource_type: str, resource_id: str) -> dict[str, Any]:
    if resource_type == "Schedule":
        try:
            key = _schedule_key(resource_id)
        except sp.SearchValueError:
            key = None
        if key is None:
            raise FhirError(404, "not-found", ERR_NOT_FOUND)
        provider_id, location_id = key
        pair = (
            Provider.locations.through.objects.select_related("provider", "location")
            .filter(provider_id=provider_id, location_id=location_id)
            .first()
        )
        if pair is None:
            raise FhirError(404, "not-found", ERR_NOT_FOUND)
        return r.schedule_resource(pair.provider, pair.location)
    pk = parse_id(resource_id)
    if resource_type == "Appointment" and pk is None:
        from .operations import proposal_read

        proposal = proposal_read(resource_id, user=user)
        if proposal is None:
            raise FhirError(404, "not-found", ERR_NOT_FOUND)
        return proposal
    if pk is None:
        raise FhirError(404, "not-found", ERR_NOT_FOUND)
    build_qs, to_resource = SEARCHES[resource_type]
    obj = _in_scope(user, resource_type, build_qs(QueryDict())).filter(pk=pk).first()
    if obj is None:
        raise FhirError(404, "not-found", ERR_NOT_FOUND)
    resource = to_resource(obj)
    if resource_type in PHI_TYPES:
        audit_access(actor=user, instances=[obj], surface="fhir.read")
    return resource


# -- endpoints -------------------------------------------------------------------------
@fhir_view
def unknown_path(request: HttpRequest, user: Any) -> HttpResponse:
    raise FhirError(404, "not-found", ERR_NOT_FOUND)


@fhir_view
def metadata(request: HttpRequest, user: Any) -> HttpResponse:
    from .capability import capability_statement

    return fhir_response(capability_statement(_base(request)))


@fhir_view
def type_endpoint(request: HttpRequest, user: Any, resource_type: str) -> HttpResponse:
    if resource_type not in SUPPORTED:
        raise FhirError(404, "not-supported", ERR_UNKNOWN_TYPE)
    if request.method == "GET":
        require(user, VIEW_PERMS[resource_type])
        return _search(request, user, resource_type, request.GET, "fhir.search")
    if request.method == "POST" and resource_type == "Appointment":
        require(user, BOOK_PERM)
        from .operations import appointment_create

        created = appointment_create(user=user, resource=json_resource(request, "Appointment"))
        return fhir_response(created, 201, Location=f"{_base(request)}/Appointment/{created['id']}")
    raise FhirError(405, "not-supported", ERR_METHOD)


@fhir_view
def search_post(request: HttpRequest, user: Any, resource_type: str) -> HttpResponse:
    if resource_type not in SUPPORTED:
        raise FhirError(404, "not-supported", ERR_UNKNOWN_TYPE)
    if request.method != "POST":
        raise FhirError(405, "not-supported", ERR_METHOD)
    require(user, VIEW_PERMS[resource_type])
    require_form(request)
    params = request.POST.copy()
    params.update(request.GET)
    return _search(request, user, resource_type, params, "fhir._search")


@fhir_view
def instance_endpoint(
    request: HttpRequest, user: Any, resource_type: str, resource_id: str
) -> HttpResponse:
    if resource_type not in SUPPORTED:
        raise FhirError(404, "not-supported", ERR_UNKNOWN_TYPE)
    if request.method != "GET":
        raise FhirError(405, "not-supported", ERR_METHOD)
    require(user, VIEW_PERMS[resource_type])
    return fhir_response(_read(user, resource_type, resource_id))


@fhir_view
def appointment_operation(request: HttpRequest, user: Any, operation: str) -> HttpResponse:
    from . import operations

    if request.method != "POST":
        raise FhirError(405, "not-supported", ERR_METHOD)
    handler = {"find": operations.find, "hold": operations.hold, "book": operations.book}.get(
        operation
    )
    if handler is None:
        raise FhirError(404, "not-supported", "Unknown operation.")
    require(user, BOOK_PERM)
    parameters = json_resource(request, "Parameters")
    return fhir_response(handler(user=user, parameters=parameters, base=_base(request)))
