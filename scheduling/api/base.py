"""What every scheduling endpoint shares: the role check, service errors as JSON, and
the output shapes several endpoints return."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import UsesConsolePermission

from .. import selectors, services
from ..models import Appointment, Call


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
    assistant_id = serializers.IntegerField(
        allow_null=True, help_text="The second staff member (a hygienist) the visit needs"
    )
    assistant = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    local_start = serializers.CharField(help_text="ISO 8601 in the location's time zone")
    time_zone = serializers.CharField()
    book_reason = serializers.CharField()
    cancel_reason = serializers.CharField()
    network_override_reason = serializers.CharField()
    rescheduled_from_id = serializers.IntegerField(allow_null=True)
    overbooked = serializers.BooleanField(help_text="A deliberate double-booking of its slot")
    video_link = serializers.CharField(help_text="Telehealth visits only; empty otherwise")


# DRF's own rendering of a datetime (ISO 8601 in the current time zone, "Z" for UTC).
iso_datetime = serializers.DateTimeField().to_representation


def appointment_data(appt: Appointment) -> dict[str, Any]:
    """``AppointmentOutput`` as DRF renders it: every value already has its output type
    (datetimes as DRF writes them), so an answer returns this dict as it is instead of
    running the serializer over it again (which copied 22 fields and re-read each value)."""
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
        "assistant_id": appt.assistant_id,
        "assistant": str(appt.assistant) if appt.assistant else None,
        "start": iso_datetime(appt.start),
        "end": iso_datetime(appt.end),
        "local_start": appt.location.local(appt.start).isoformat(),
        "time_zone": appt.location.time_zone,
        "book_reason": appt.book_reason,
        "cancel_reason": appt.cancel_reason,
        "network_override_reason": appt.network_override_reason,
        "rescheduled_from_id": appt.rescheduled_from_id,
        "overbooked": appt.overbooked,
        "video_link": appt.video_link,
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


def own_open_calls(user: Any) -> QuerySet[Call]:
    return Call.objects.filter(agent_id=user.pk, ended_at__isnull=True)


def call_or_400(request: Request, call_id: int | None) -> Call | None:
    if call_id is None:
        return None
    call = own_open_calls(request.user).filter(pk=call_id).first()
    if call is None:
        raise serializers.ValidationError({"call_id": ["No open call of yours has this id."]})
    return call
