"""Slot search over /api/v1/: the same engine and rules as the console's finder."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import validated_input
from config.inputs import validate_calendar_date
from config.permissions import OVERRIDE_NETWORK
from patients.models import Patient

from .. import selectors, services
from ..models import Appointment, AppointmentType, Location, Provider, Region, Waitlist
from .base import ErrorOutput, ServiceView


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
        date_from = serializers.DateField(
            required=False, allow_null=True, validators=[validate_calendar_date]
        )
        date_to = serializers.DateField(
            required=False, allow_null=True, validators=[validate_calendar_date]
        )
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
