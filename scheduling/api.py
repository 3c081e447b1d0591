"""/api/v1/ scheduling endpoints: thin views over scheduling.services and selectors.

Each view validates input with its nested ``Input`` serializer (400 with field errors),
calls one service or selector, and renders with its ``Output`` serializer. Service
errors become their constant message with the status the error class carries (409 for
booking conflicts). Ids travel in POST bodies, never names or birth dates in URLs.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import UsesConsolePermission, validated_input
from config.permissions import OVERRIDE_NETWORK
from patients.models import Patient

from . import selectors, services
from .models import (
    Appointment,
    AppointmentType,
    BookReason,
    Call,
    CallReason,
    CancelReason,
    Hold,
    Location,
    Provider,
    Region,
    Slot,
    Waitlist,
)


class UsesConsole(UsesConsolePermission):
    """Agents (and admins): the scheduling API acts with the console's powers."""

    message = "Your role may not use the scheduling API."


def agent_of(request: Request) -> User:
    # IsAuthenticated has already run: the user is a real account, never AnonymousUser.
    return cast(User, request.user)


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


class ServiceView(APIView):
    permission_classes = [permissions.IsAuthenticated, UsesConsole]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, services.SchedulingError):
            code = type(exc).__name__
            return Response(
                {"detail": exc.message, "code": code, "reasons": exc.details},
                status=exc.status_code,
            )
        return super().handle_exception(exc)


def _active(model: type[Any]) -> QuerySet[Any]:
    return model.objects.filter(active=True)


# ---------------------------------------------------------------------------
# Output shapes shared by several endpoints
# ---------------------------------------------------------------------------
class AppointmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    patient_id = serializers.IntegerField()
    provider_id = serializers.IntegerField()
    provider = serializers.CharField()
    location_id = serializers.IntegerField()
    location = serializers.CharField()
    appointment_type_id = serializers.IntegerField()
    appointment_type = serializers.CharField()
    room = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    local_start = serializers.CharField(help_text="ISO 8601 in the location's time zone")
    time_zone = serializers.CharField()
    book_reason = serializers.CharField()
    cancel_reason = serializers.CharField()
    network_override_reason = serializers.CharField()
    rescheduled_from_id = serializers.IntegerField(allow_null=True)


def appointment_data(appt: Appointment) -> dict[str, Any]:
    return {
        "id": appt.pk,
        "status": appt.status,
        "patient_id": appt.patient_id,
        "provider_id": appt.provider_id,
        "provider": str(appt.provider),
        "location_id": appt.location_id,
        "location": appt.location.name,
        "appointment_type_id": appt.appointment_type_id,
        "appointment_type": appt.appointment_type.name,
        "room": appt.room.name if appt.room else None,
        "start": appt.start,
        "end": appt.end,
        "local_start": appt.location.local(appt.start).isoformat(),
        "time_zone": appt.location.time_zone,
        "book_reason": appt.book_reason,
        "cancel_reason": appt.cancel_reason,
        "network_override_reason": appt.network_override_reason,
        "rescheduled_from_id": appt.rescheduled_from_id,
    }


class WaitlistMatchOutput(serializers.Serializer):
    entry_id = serializers.IntegerField()
    patient_id = serializers.IntegerField()
    patient_name = serializers.CharField()
    appointment_type_id = serializers.IntegerField()
    appointment_type = serializers.CharField()
    slot_id = serializers.IntegerField()
    start = serializers.DateTimeField()
    local_start = serializers.CharField()
    location_id = serializers.IntegerField()
    location = serializers.CharField()
    provider_id = serializers.IntegerField()
    provider = serializers.CharField()
    earliest = serializers.DateField()
    latest = serializers.DateField()
    time_of_day = serializers.CharField()


def match_data(match: selectors.WaitlistMatch) -> dict[str, Any]:
    data = dict(match.__dict__)
    data["local_start"] = match.local_start.isoformat()
    return data


# ---------------------------------------------------------------------------
# Slot search
# ---------------------------------------------------------------------------
class SlotSearchView(ServiceView):
    """Ranked slots across every location, with each excluded location/provider's reasons."""

    class Input(serializers.Serializer):
        class Meta:
            ref_name = "SlotSearchInput"

        patient_id = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
        appointment_type_id = serializers.PrimaryKeyRelatedField(
            queryset=AppointmentType.objects.filter(active=True)
        )
        provider_id = serializers.PrimaryKeyRelatedField(
            queryset=Provider.objects.filter(active=True), required=False, allow_null=True
        )
        location_id = serializers.PrimaryKeyRelatedField(
            queryset=Location.objects.filter(active=True), required=False, allow_null=True
        )
        region_id = serializers.PrimaryKeyRelatedField(
            queryset=Region.objects.all(), required=False, allow_null=True
        )
        date_from = serializers.DateField(required=False, allow_null=True)
        date_to = serializers.DateField(required=False, allow_null=True)
        time_of_day = serializers.ChoiceField(
            choices=Waitlist.TimeOfDay.choices, default=Waitlist.TimeOfDay.ANY
        )
        preferred_time_of_day = serializers.ChoiceField(
            choices=Waitlist.TimeOfDay.choices, required=False, allow_null=True
        )
        max_distance_miles = serializers.FloatField(
            required=False, allow_null=True, min_value=1, max_value=3000
        )
        whole_network = serializers.BooleanField(
            default=False, help_text="Search beyond the agent's home region"
        )
        limit = serializers.IntegerField(default=30, min_value=1, max_value=200)
        allow_out_of_network = serializers.BooleanField(
            default=False,
            help_text=(
                "Offer out-of-network options too, flagged (needs scheduling.override_network;"
                " booking one needs network_override_reason)"
            ),
        )
        rescheduling_appointment_id = serializers.PrimaryKeyRelatedField(
            queryset=Appointment.objects.filter(status__in=Appointment.ACTIVE_STATUSES),
            required=False,
            allow_null=True,
            help_text=(
                "The patient's booking being moved: its own time does not count as an "
                "overlapping visit"
            ),
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            lo, hi = attrs.get("date_from"), attrs.get("date_to")
            if lo and hi and hi < lo:
                raise serializers.ValidationError({"date_to": "Must be on or after date_from."})
            moving = attrs.get("rescheduling_appointment_id")
            if moving is not None and moving.patient_id != attrs["patient_id"].pk:
                raise serializers.ValidationError(
                    {"rescheduling_appointment_id": "Must be this patient's own booking."}
                )
            return attrs

    class ScorePartOutput(serializers.Serializer):
        class Meta:
            ref_name = "SlotSearchScorePartOutput"

        rule = serializers.CharField()
        points = serializers.FloatField()
        note = serializers.CharField()

    class OptionOutput(serializers.Serializer):
        class Meta:
            ref_name = "SlotSearchOptionOutput"

        slot_id = serializers.IntegerField()
        provider_id = serializers.IntegerField()
        provider = serializers.CharField()
        location_id = serializers.IntegerField()
        location = serializers.CharField()
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()
        local_start = serializers.CharField()
        local_end = serializers.CharField()
        time_zone = serializers.CharField()
        score = serializers.FloatField()
        distance_miles = serializers.FloatField(allow_null=True)
        breakdown = serializers.ListField(child=serializers.DictField())
        held = serializers.BooleanField(help_text="Another agent holds it: not bookable now")
        held_by_me = serializers.BooleanField(help_text="You hold it: yours to book")
        hold_note = serializers.CharField(
            help_text='"held by another agent", "held by you on this call" or empty'
        )
        out_of_network = serializers.BooleanField(
            help_text="Offered by allow_out_of_network: booking needs an override reason"
        )
        network_note = serializers.CharField(
            help_text='e.g. "Dr. Lee is out of network for Delta PPO: needs an override reason"'
        )

    class DayOutput(serializers.Serializer):
        class Meta:
            ref_name = "SlotSearchDayOutput"

        day = serializers.DateField()
        options = serializers.ListField(child=serializers.DictField())

    class ExcludedOutput(serializers.Serializer):
        class Meta:
            ref_name = "SlotSearchExcludedOutput"

        kind = serializers.CharField()
        id = serializers.IntegerField()
        name = serializers.CharField()
        reasons = serializers.ListField(child=serializers.CharField())
        rules = serializers.ListField(child=serializers.CharField())

    class Output(serializers.Serializer):
        class Meta:
            ref_name = "SlotSearchOutput"

        days = serializers.ListField(child=serializers.DictField())
        excluded = serializers.ListField(child=serializers.DictField())
        blocked = serializers.ListField(
            child=serializers.CharField(), help_text="Reasons that rule out every option"
        )
        region_id = serializers.IntegerField(allow_null=True)
        scoped_to_home_region = serializers.BooleanField()
        date_from = serializers.DateField()
        date_to = serializers.DateField()
        locations_searched = serializers.IntegerField()
        providers_searched = serializers.IntegerField()
        out_of_network_allowed = serializers.BooleanField()

    @extend_schema(request=Input, responses={200: Output, 400: ErrorOutput, 403: ErrorOutput})
    def post(self, request: Request) -> Response:
        v = validated_input(self.Input, request)
        # Asking for what the role may not do is an error, not a silently narrower answer.
        if v["allow_out_of_network"] and not request.user.has_perm(OVERRIDE_NETWORK):
            raise services.NetworkOverrideNotAllowed()
        result = selectors.slot_search(
            patient=v["patient_id"],
            appointment_type=v["appointment_type_id"],
            provider=v.get("provider_id"),
            location=v.get("location_id"),
            region=v.get("region_id"),
            date_from=v.get("date_from"),
            date_to=v.get("date_to"),
            time_of_day=v["time_of_day"],
            preferred_time_of_day=v.get("preferred_time_of_day"),
            max_distance_miles=v.get("max_distance_miles"),
            user=request.user,
            home_region_only=not v["whole_network"],
            limit=v["limit"],
            allow_out_of_network=v["allow_out_of_network"],
            rescheduling=v.get("rescheduling_appointment_id"),
        )

        def option(o: selectors.SlotOption) -> dict[str, Any]:
            return {
                "slot_id": o.slot_id,
                "provider_id": o.provider_id,
                "provider": o.provider,
                "location_id": o.location_id,
                "location": o.location,
                "start": o.start.isoformat(),
                "end": o.end.isoformat(),
                "local_start": o.local_start.isoformat(),
                "local_end": o.local_end.isoformat(),
                "time_zone": o.time_zone,
                "score": o.score,
                "distance_miles": o.distance_miles,
                "breakdown": [p.__dict__ for p in o.breakdown],
                "held": o.held,
                "held_by_me": o.held_by_me,
                "hold_note": o.hold_note,
                "out_of_network": o.out_of_network,
                "network_note": o.network_note,
            }

        payload = {
            "days": [
                {"day": d.day.isoformat(), "options": [option(o) for o in d.options]}
                for d in result.days
            ],
            "excluded": [
                {
                    "kind": e.kind,
                    "id": e.id,
                    "name": e.name,
                    "reasons": list(e.reasons),
                    "rules": list(e.rules),
                }
                for e in result.excluded
            ],
            "blocked": list(result.blocked),
            "region_id": result.region_id,
            "scoped_to_home_region": result.scoped_to_home_region,
            "date_from": result.date_from,
            "date_to": result.date_to,
            "locations_searched": result.locations_searched,
            "providers_searched": result.providers_searched,
            "out_of_network_allowed": result.out_of_network_allowed,
        }
        return Response(self.Output(payload).data)


# ---------------------------------------------------------------------------
# Holds
# ---------------------------------------------------------------------------
class HoldOutput(serializers.Serializer):
    id = serializers.IntegerField()
    slot_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True)
    consumed_at = serializers.DateTimeField(allow_null=True)


def _own_call(user: Any) -> QuerySet[Call]:
    return Call.objects.filter(agent_id=user.pk, ended_at__isnull=True)


class HoldCreateView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "HoldCreateInput"

        slot_id = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.all())
        call_id = serializers.IntegerField(required=False, allow_null=True)
        appointment_type_id = serializers.PrimaryKeyRelatedField(
            queryset=AppointmentType.objects.filter(active=True),
            required=False,
            allow_null=True,
            help_text="Also hold the following units a visit of this type needs",
        )

    @extend_schema(request=Input, responses={201: HoldOutput, 400: ErrorOutput, 409: ErrorOutput})
    def post(self, request: Request) -> Response:
        data = validated_input(self.Input, request)
        call = _call_or_400(request, data.get("call_id"))
        hold = services.hold_place(
            slot=data["slot_id"],
            by=agent_of(request),
            call=call,
            appointment_type=data.get("appointment_type_id"),
        )
        return Response(HoldOutput(hold).data, status=status.HTTP_201_CREATED)


class HoldReleaseView(ServiceView):
    @extend_schema(request=None, responses={200: HoldOutput, 403: ErrorOutput})
    def post(self, request: Request, hold_id: int) -> Response:
        hold = get_object_or_404(Hold, pk=hold_id)
        hold = services.hold_release(hold=hold, by=agent_of(request))
        return Response(HoldOutput(hold).data)


def _call_or_400(request: Request, call_id: int | None) -> Call | None:
    if call_id is None:
        return None
    call = _own_call(request.user).filter(pk=call_id).first()
    if call is None:
        raise serializers.ValidationError({"call_id": ["No open call of yours has this id."]})
    return call


# ---------------------------------------------------------------------------
# Appointments
# ---------------------------------------------------------------------------
class AppointmentBookView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentBookInput"

        hold_id = serializers.PrimaryKeyRelatedField(queryset=Hold.objects.all())
        patient_id = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
        appointment_type_id = serializers.PrimaryKeyRelatedField(
            queryset=AppointmentType.objects.filter(active=True)
        )
        reason = serializers.ChoiceField(choices=BookReason.choices)
        call_id = serializers.IntegerField(required=False, allow_null=True)
        network_override_reason = serializers.CharField(
            required=False, allow_blank=True, max_length=200, default=""
        )

    @extend_schema(
        request=Input, responses={201: AppointmentOutput, 400: ErrorOutput, 409: ErrorOutput}
    )
    def post(self, request: Request) -> Response:
        v = validated_input(self.Input, request)
        appt = services.appointment_book(
            hold=v["hold_id"],
            patient=v["patient_id"],
            appointment_type=v["appointment_type_id"],
            by=agent_of(request),
            reason=v["reason"],
            call=_call_or_400(request, v.get("call_id")),
            network_override_reason=v["network_override_reason"],
            channel=Appointment.Channel.API,
        )
        return Response(AppointmentOutput(appointment_data(appt)).data, status=201)


def _appointment(appointment_id: int) -> Appointment:
    return get_object_or_404(
        Appointment.objects.select_related("provider", "location", "appointment_type", "room"),
        pk=appointment_id,
    )


class ChangeOutput(serializers.Serializer):
    """An appointment after a change, and who on the waitlist the freed units could serve."""

    appointment = AppointmentOutput()
    waitlist_matches = WaitlistMatchOutput(many=True)


def change_data(appt: Appointment, freed_from: Appointment) -> dict[str, Any]:
    matches = selectors.waitlist_matches_for_slots(slot_ids=services.freed_slot_ids(freed_from))
    return {
        "appointment": appointment_data(_appointment(appt.pk)),
        "waitlist_matches": [match_data(m) for m in matches],
    }


class AppointmentRescheduleView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentRescheduleInput"

        hold_id = serializers.PrimaryKeyRelatedField(queryset=Hold.objects.all())
        reason = serializers.ChoiceField(choices=CancelReason.choices)
        call_id = serializers.IntegerField(required=False, allow_null=True)
        network_override_reason = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            default="",
            help_text=(
                "Why the move goes out of the patient's network (needs "
                "scheduling.override_network); without it the old booking's reason carries"
            ),
        )

    @extend_schema(request=Input, responses={201: ChangeOutput, 400: ErrorOutput, 409: ErrorOutput})
    def post(self, request: Request, appointment_id: int) -> Response:
        v = validated_input(self.Input, request)
        old = _appointment(appointment_id)
        new = services.appointment_reschedule(
            appointment=old,
            hold=v["hold_id"],
            by=agent_of(request),
            reason=v["reason"],
            call=_call_or_400(request, v.get("call_id")),
            network_override_reason=v["network_override_reason"],
        )
        return Response(ChangeOutput(change_data(new, old)).data, status=201)


class AppointmentCancelView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentCancelInput"

        reason = serializers.ChoiceField(choices=CancelReason.choices)
        call_id = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(request=Input, responses={200: ChangeOutput, 400: ErrorOutput, 409: ErrorOutput})
    def post(self, request: Request, appointment_id: int) -> Response:
        v = validated_input(self.Input, request)
        appt = services.appointment_cancel(
            appointment=_appointment(appointment_id),
            by=agent_of(request),
            reason=v["reason"],
            call=_call_or_400(request, v.get("call_id")),
        )
        return Response(ChangeOutput(change_data(appt, appt)).data)


# ---------------------------------------------------------------------------
# Waitlist
# ---------------------------------------------------------------------------
class WaitlistAddView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "WaitlistAddInput"

        patient_id = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
        appointment_type_id = serializers.PrimaryKeyRelatedField(
            queryset=AppointmentType.objects.filter(active=True)
        )
        earliest = serializers.DateField()
        latest = serializers.DateField()
        time_of_day = serializers.ChoiceField(
            choices=Waitlist.TimeOfDay.choices, default=Waitlist.TimeOfDay.ANY
        )
        provider_ids = serializers.PrimaryKeyRelatedField(
            queryset=Provider.objects.filter(active=True), many=True, required=False
        )
        location_ids = serializers.PrimaryKeyRelatedField(
            queryset=Location.objects.filter(active=True), many=True, required=False
        )
        notes = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    class Output(serializers.Serializer):
        class Meta:
            ref_name = "WaitlistAddOutput"

        id = serializers.IntegerField()
        status = serializers.CharField()
        earliest = serializers.DateField()
        latest = serializers.DateField()
        time_of_day = serializers.CharField()

    @extend_schema(request=Input, responses={201: Output, 400: ErrorOutput})
    def post(self, request: Request) -> Response:
        v = validated_input(self.Input, request)
        entry = services.waitlist_add(
            patient=v["patient_id"],
            appointment_type=v["appointment_type_id"],
            by=agent_of(request),
            earliest=v["earliest"],
            latest=v["latest"],
            time_of_day=v["time_of_day"],
            providers=v.get("provider_ids", []),
            locations=v.get("location_ids", []),
            notes=v["notes"],
        )
        return Response(self.Output(entry).data, status=201)


class WaitlistMatchesView(ServiceView):
    """Open waitlist entries a (freed) slot could serve."""

    @extend_schema(responses={200: WaitlistMatchOutput(many=True)})
    def get(self, request: Request, slot_id: int) -> Response:
        slot = get_object_or_404(Slot, pk=slot_id)
        matches = selectors.waitlist_matches_for_slot(slot=slot)
        return Response(WaitlistMatchOutput([match_data(m) for m in matches], many=True).data)


# ---------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------
class CallOutput(serializers.Serializer):
    id = serializers.IntegerField()
    patient_id = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()
    reason = serializers.CharField()


class CallStartView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "CallStartInput"

        caller_phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
        patient_id = serializers.PrimaryKeyRelatedField(
            queryset=Patient.objects.all(), required=False, allow_null=True
        )
        reason = serializers.ChoiceField(
            choices=CallReason.choices, required=False, allow_blank=True
        )

    @extend_schema(request=Input, responses={201: CallOutput, 400: ErrorOutput})
    def post(self, request: Request) -> Response:
        v = validated_input(self.Input, request)
        call = services.call_start(
            agent=agent_of(request),
            caller_phone=v.get("caller_phone", ""),
            patient=v.get("patient_id"),
            reason=v.get("reason", ""),
        )
        return Response(CallOutput(call).data, status=201)


class CallWrapUpView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "CallWrapUpInput"

        outcome = serializers.ChoiceField(choices=Call.Outcome.choices)
        reason = serializers.ChoiceField(
            choices=CallReason.choices, required=False, allow_blank=True, default=""
        )
        notes = serializers.CharField(required=False, allow_blank=True, default="")
        patient_id = serializers.PrimaryKeyRelatedField(
            queryset=Patient.objects.all(), required=False, allow_null=True
        )

    @extend_schema(request=Input, responses={200: CallOutput, 400: ErrorOutput, 409: ErrorOutput})
    def post(self, request: Request, call_id: int) -> Response:
        v = validated_input(self.Input, request)
        call = services.call_wrap_up(
            call=get_object_or_404(Call, pk=call_id),
            by=agent_of(request),
            outcome=v["outcome"],
            notes=v["notes"],
            patient=v.get("patient_id"),
            reason=v["reason"],
        )
        return Response(CallOutput(call).data)
