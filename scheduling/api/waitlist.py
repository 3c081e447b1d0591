"""The waitlist over /api/v1/: add an entry, list the entries a freed slot could serve."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import validated_input
from config.audit import audit_access_rows
from config.inputs import validate_calendar_date
from patients.models import Patient

from .. import selectors, services
from ..models import AppointmentType, Location, Provider, Slot, Waitlist
from .base import ErrorOutput, ServiceView, WaitlistMatchOutput, agent_of, match_data


class WaitlistAddView(ServiceView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "WaitlistAddInput"

        patient_id = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
        appointment_type_id = serializers.PrimaryKeyRelatedField(
            queryset=AppointmentType.objects.filter(active=True)
        )
        earliest = serializers.DateField(validators=[validate_calendar_date])
        latest = serializers.DateField(validators=[validate_calendar_date])
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
        earliest = serializers.DateField(validators=[validate_calendar_date])
        latest = serializers.DateField(validators=[validate_calendar_date])
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
        audit_access_rows(
            actor=request.user,
            model=Patient,
            shown=[(m.patient_id, {"waitlist": m.entry_id}) for m in matches],
        )
        return Response(WaitlistMatchOutput([match_data(m) for m in matches], many=True).data)
