from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import USE_CONSOLE


class UsesConsolePermission(BasePermission):
    """Agents (and admins): an API that acts with the console's powers is gated by its
    permission. Subclasses set the ``message`` their clients already read on a 403."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.has_perm(USE_CONSOLE))


def validated_input(serializer_class: type[serializers.Serializer], request: Request) -> Any:
    """The request body checked by a view's ``Input`` serializer; invalid input raises
    DRF's ValidationError, which the view turns into a 400 with the field errors."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


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
