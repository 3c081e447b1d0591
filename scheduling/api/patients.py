"""Patient search and context over /api/v1/, through the console's read model, so an API
client sees the locations and history an agent sees. Searches are POSTs so names and
birth dates never sit in a URL (and therefore never in an access log)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import validated_input
from patients.api import IsAgent, PatientSummary
from patients.models import Patient
from patients.selectors import PATIENT_NOT_FOUND

from ..console.readmodel import patient_context, patient_search


class PatientView(APIView):
    permission_classes = [IsAuthenticated, IsAgent]


class PatientSearchView(PatientView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "PatientSearchInput"

        query = serializers.CharField(max_length=120)

    class Hit(serializers.Serializer):
        class Meta:
            ref_name = "PatientSearchHit"

        patient = PatientSummary()
        score = serializers.FloatField()
        matched_on = serializers.ListField(child=serializers.CharField())
        locations = serializers.ListField(child=serializers.CharField())
        possible_duplicates = serializers.ListField(child=serializers.IntegerField())

    class Output(serializers.Serializer):
        class Meta:
            ref_name = "PatientSearchOutput"

        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(request=Input, responses=Hit(many=True))
    def post(self, request: Request) -> Response:
        data = validated_input(self.Input, request)
        hits = patient_search(query=data["query"], user=request.user)
        return Response({"results": self.Hit(hits, many=True).data})


class PatientContextView(PatientView):
    class Coverage(serializers.Serializer):
        class Meta:
            ref_name = "PatientContextCoverage"

        payer = serializers.CharField(source="coverage.plan.payer.name")
        plan = serializers.CharField(source="coverage.plan.name")
        member_id = serializers.CharField(source="coverage.member_id")
        priority = serializers.IntegerField(source="coverage.priority")
        eligibility_status = serializers.CharField()
        eligibility_checked_at = serializers.DateTimeField(allow_null=True)

    class Clinical(serializers.Serializer):
        class Meta:
            ref_name = "PatientContextClinical"

        kind = serializers.CharField()
        description = serializers.CharField()
        code = serializers.CharField()
        source_system = serializers.CharField()
        source_location = serializers.CharField(source="source_location.name", default=None)
        recorded_at = serializers.DateTimeField()

    class Appointment(serializers.Serializer):
        class Meta:
            ref_name = "PatientContextAppointment"

        id = serializers.IntegerField()
        status = serializers.CharField()
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()
        location = serializers.CharField(source="location.name")
        location_time_zone = serializers.CharField(source="location.time_zone")
        local_start = serializers.SerializerMethodField()
        provider = serializers.CharField(source="provider.__str__")
        appointment_type = serializers.CharField(source="appointment_type.name")

        def get_local_start(self, appt: Any) -> str:
            return str(appt.location.local(appt.start).isoformat())

    class Waitlist(serializers.Serializer):
        class Meta:
            ref_name = "PatientContextWaitlist"

        id = serializers.IntegerField()
        appointment_type = serializers.CharField(source="appointment_type.name")
        earliest = serializers.DateField()
        latest = serializers.DateField()
        time_of_day = serializers.CharField()
        status = serializers.CharField()

    class Output(serializers.Serializer):
        class Meta:
            ref_name = "PatientContext"

        patient = PatientSummary()
        age = serializers.IntegerField()
        locations = serializers.ListField(child=serializers.CharField())
        coverages = serializers.ListField(child=serializers.DictField())
        clinical = serializers.ListField(child=serializers.DictField())
        upcoming = serializers.ListField(child=serializers.DictField())
        past = serializers.ListField(child=serializers.DictField())
        waitlist = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=Output)
    def get(self, request: Request, patient_id: int) -> Response:
        try:
            ctx = patient_context(patient_id=patient_id, user=request.user)
        except Patient.DoesNotExist:
            return Response({"detail": PATIENT_NOT_FOUND}, status=status.HTTP_404_NOT_FOUND)
        return Response(
            {
                "patient": PatientSummary(ctx.patient).data,
                "age": ctx.age,
                "locations": ctx.locations,
                "coverages": self.Coverage(ctx.coverages, many=True).data,
                "clinical": self.Clinical(ctx.clinical, many=True).data,
                "upcoming": self.Appointment(ctx.upcoming, many=True).data,
                "past": self.Appointment(ctx.past, many=True).data,
                "waitlist": self.Waitlist(ctx.waitlist, many=True).data,
            }
        )
