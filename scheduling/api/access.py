"""Break-glass over the API: widen to one patient outside the agent's region for a call."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import validated_input
from patients.models import Patient

from .. import services
from .base import ErrorOutput, ServiceView, agent_of, call_or_400


class AccessWidenView(ServiceView):
    """POST patients/{id}/widen/: the reason and the open call it is for. Afterwards the
    patient's context and bookings are reachable until that call is wrapped up."""

    class Input(serializers.Serializer):
        class Meta:
            ref_name = "AccessWidenInput"

        call_id = serializers.IntegerField()
        reason = serializers.CharField(max_length=200)

    class Output(serializers.Serializer):
        class Meta:
            ref_name = "AccessWidenOutput"

        widen_id = serializers.IntegerField()
        patient_id = serializers.IntegerField()
        call_id = serializers.IntegerField()

    @extend_schema(request=Input, responses={201: Output, 400: ErrorOutput, 404: ErrorOutput})
    def post(self, request: Request, patient_id: int) -> Response:
        v = validated_input(self.Input, request)
        call = call_or_400(request, v["call_id"])
        patient = Patient.objects.filter(pk=patient_id).first()
        if patient is None:
            raise services.PatientNotFound()
        widen = services.access_widen(
            user=agent_of(request), patient=patient, call=call, reason=v["reason"]
        )
        data = {"widen_id": widen.pk, "patient_id": patient.pk, "call_id": widen.call_id}
        return Response(self.Output(data).data, status=201)
