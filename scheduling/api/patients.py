"""The patient endpoints of /api/v1/: registration, search and context. They live in
scheduling's API because they show and validate scheduling's rows (home locations, the
locations a patient was seen at, appointments), through the console's read model, so an
API client sees what an agent sees. Searches are POSTs so names and birth dates never
sit in a URL (and therefore never in an access log)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import UsesConsolePermission, validated_input
from patients.models import Patient
from patients.selectors import PATIENT_NOT_FOUND
from patients.services import PossibleDuplicate, patient_register
from patients.validation import registration_errors

from ..console.readmodel import patient_context, patient_search
from ..models import Location


class IsAgent(UsesConsolePermission):
    """Agents (and admins) only: the console's permission gates its API too."""

    message = "The agent role is required."


class PatientSummary(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    date_of_birth = serializers.DateField()
    phone = serializers.CharField()
    home_location = serializers.CharField(
        source="home_location.name", default=None, allow_null=True
    )
    status = serializers.CharField()


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

        results = serializers.ListField(
            child=serializers.DictField(), help_text="PatientSearchHit objects, best first"
        )

    @extend_schema(request=Input, responses=Output)
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


class PatientRegisterView(PatientView):
    class Input(serializers.Serializer):
        class Meta:
            ref_name = "PatientRegisterInput"

        first_name = serializers.CharField(max_length=60)
        middle_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
        last_name = serializers.CharField(max_length=60)
        date_of_birth = serializers.DateField()
        sex = serializers.ChoiceField(choices=Patient.Sex.choices, required=False)
        phone = serializers.CharField(max_length=25, required=False, allow_blank=True)
        email = serializers.EmailField(required=False, allow_blank=True)
        zip_code = serializers.CharField(max_length=10, required=False, allow_blank=True)
        preferred_language = serializers.CharField(max_length=8, required=False)
        home_location = serializers.PrimaryKeyRelatedField(
            queryset=Location.objects.filter(active=True),
            required=False,
            allow_null=True,
        )
        confirmed_not_duplicate = serializers.BooleanField(default=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            errors = registration_errors(attrs)
            if errors:
                raise serializers.ValidationError(errors)
            return attrs

    class DuplicateCandidate(serializers.Serializer):
        class Meta:
            ref_name = "PatientRegisterDuplicateCandidate"

        patient = PatientSummary()
        score = serializers.FloatField()
        reasons = serializers.ListField(child=serializers.CharField())

    class Duplicates(serializers.Serializer):
        class Meta:
            ref_name = "PatientRegisterDuplicates"

        detail = serializers.CharField()
        candidates = serializers.ListField(
            child=serializers.DictField(),
            help_text="PatientRegisterDuplicateCandidate objects: confirm to register anyway",
        )

    @extend_schema(request=Input, responses={201: PatientSummary, 409: Duplicates})
    def post(self, request: Request) -> Response:
        data = validated_input(self.Input, request)
        fields = dict(data)
        confirmed = fields.pop("confirmed_not_duplicate")
        try:
            patient = patient_register(
                data=fields, by=request.user, confirmed_not_duplicate=confirmed
            )
        except PossibleDuplicate as dup:
            return Response(
                {
                    "detail": str(dup),
                    "candidates": [
                        {
                            "patient": PatientSummary(c.patient).data,
                            "score": c.match.score,
                            "reasons": list(c.match.reasons),
                        }
                        for c in dup.candidates
                    ],
                },
                status=status.HTTP_409_CONFLICT,
            )
        except DjangoValidationError as exc:
            return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        return Response(PatientSummary(patient).data, status=status.HTTP_201_CREATED)
