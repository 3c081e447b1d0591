"""Holds and appointments over /api/v1/: hold, release, book, reschedule, cancel."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import CompiledPrimaryKeyField, validated_input
from patients.models import Patient

from .. import selectors, services
from ..models import Appointment, AppointmentType, BookReason, CancelReason, Hold, Slot
from .base import (
    AppointmentOutput,
    ErrorOutput,
    ServiceView,
    WaitlistMatchOutput,
    agent_of,
    appointment_data,
    call_or_400,
    iso_datetime,
    match_data,
)


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


def hold_data(hold: Hold) -> dict[str, Any]:
    """``HoldOutput`` as DRF renders it, built directly (see ``appointment_data``)."""
    return {
        "id": hold.pk,
        "slot_id": hold.slot_id,
        "created_at": iso_datetime(hold.created_at),
        "expires_at": iso_datetime(hold.expires_at),
        "released_at": iso_datetime(hold.released_at) if hold.released_at else None,
        "consumed_at": iso_datetime(hold.consumed_at) if hold.consumed_at else None,
    }


class HoldCreateView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "HoldCreateInput"

        # Compiled reads: every hold and booking names these rows.
        slot_id = CompiledPrimaryKeyField(queryset=Slot.objects.all())
        call_id = serializers.IntegerField(required=False, allow_null=True)
        appointment_type_id = CompiledPrimaryKeyField(
            queryset=AppointmentType.objects.filter(active=True),
            required=False,
            allow_null=True,
            help_text="Also hold the following units a visit of this type needs",
        )

    @extend_schema(request=Input, responses={201: HoldOutput, 400: ErrorOutput, 409: ErrorOutput})
    def post(self, request: Request) -> Response:
        data = validated_input(self.Input, request)
        call = call_or_400(request, data.get("call_id"))
        hold = services.hold_place(
            slot=data["slot_id"],
            by=agent_of(request),
            call=call,
            appointment_type=data.get("appointment_type_id"),
        )
        return Response(hold_data(hold), status=status.HTTP_201_CREATED)


class HoldReleaseView(ServiceView):
    @extend_schema(request=None, responses={200: HoldOutput, 403: ErrorOutput})
    def post(self, request: Request, hold_id: int) -> Response:
        hold = get_object_or_404(Hold, pk=hold_id)
        hold = services.hold_release(hold=hold, by=agent_of(request))
        return Response(hold_data(hold))


# ---------------------------------------------------------------------------
# Appointments
# ---------------------------------------------------------------------------
class AppointmentBookView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentBookInput"

        # With its slot, the slot's location and provider: booking needs them all.
        hold_id = CompiledPrimaryKeyField(
            queryset=Hold.objects.select_related("slot__location", "slot__provider")
        )
        patient_id = CompiledPrimaryKeyField(queryset=Patient.objects.all())
        appointment_type_id = CompiledPrimaryKeyField(
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
            call=call_or_400(request, v.get("call_id")),
            network_override_reason=v["network_override_reason"],
            channel=Appointment.Channel.API,
        )
        return Response(appointment_data(appt), status=201)


class AppointmentOverbookView(ServiceView):
    """Double-book a booked slot on purpose (needs the overbook permission and a reason;
    the provider's daily limit applies)."""

    class Input(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentOverbookInput"

        slot_id = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.all())
        patient_id = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
        appointment_type_id = serializers.PrimaryKeyRelatedField(
            queryset=AppointmentType.objects.filter(active=True)
        )
        reason = serializers.ChoiceField(choices=BookReason.choices)
        overbook_reason = serializers.CharField(max_length=200)
        call_id = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(
        request=Input,
        responses={201: AppointmentOutput, 400: ErrorOutput, 403: ErrorOutput, 409: ErrorOutput},
    )
    def post(self, request: Request) -> Response:
        v = validated_input(self.Input, request)
        appt = services.appointment_overbook(
            slot=v["slot_id"],
            patient=v["patient_id"],
            appointment_type=v["appointment_type_id"],
            by=agent_of(request),
            reason=v["reason"],
            overbook_reason=v["overbook_reason"],
            call=call_or_400(request, v.get("call_id")),
            channel=Appointment.Channel.API,
        )
        return Response(appointment_data(appt), status=201)


def _appointment(appointment_id: int) -> Appointment:
    return get_object_or_404(
        Appointment.objects.select_related(
            "provider", "location", "appointment_type", "room", "assistant"
        ),
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
            call=call_or_400(request, v.get("call_id")),
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
            call=call_or_400(request, v.get("call_id")),
        )
        return Response(ChangeOutput(change_data(appt, appt)).data)
