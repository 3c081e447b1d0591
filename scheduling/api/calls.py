"""Calls over /api/v1/: start one, wrap it up with its outcome."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import validated_input
from patients.models import Patient

from .. import services
from ..models import Call, CallReason
from .base import ErrorOutput, ServiceView, agent_of


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
