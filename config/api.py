from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class MeView(APIView):
    """Who the token or session belongs to, and their roles."""

    class Output(serializers.Serializer):
        username = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=Output)
    def get(self, request: Request) -> Response:
        user = request.user
        data = {"username": user.get_username(), "roles": sorted(g.name for g in user.groups.all())}
        return Response(self.Output(data).data)
