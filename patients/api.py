"""Patient registration over /api/v1/, through the same service as the console, and the
patient summary and agent role the patient endpoints in ``scheduling.api`` share."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import UsesConsolePermission, validated_input

from .models import Patient
from .services import PossibleDuplicate, patient_register


class IsAgent(UsesConsolePermission):
    """Agents (and admins) only: the console's permission gates its API too."""

    message = "The agent role is required."


class _Base(APIView):
    permission_classes = [IsAuthenticated, IsAgent]


class PatientSummary(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    date_of_birth = serializers.DateField()
    phone = serializers.CharField()
    home_location = serializers.CharField(source="home_location.name", default=None)
    status = serializers.CharField()


def _active_home_locations() -> QuerySet[Any]:
    """Active locations, reached through the home-location foreign key: patients sit
    below scheduling and do not import its models."""
    location = Patient._meta.get_field("home_location").related_model
    assert isinstance(location, type)
    return location._default_manager.filter(active=True)


class PatientRegisterView(_Base):
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
            queryset=_active_home_locations(),
            required=False,
            allow_null=True,
        )
        confirmed_not_duplicate = serializers.BooleanField(default=False)

    @extend_schema(request=Input, responses={201: PatientSummary})
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
