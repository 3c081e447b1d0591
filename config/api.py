from __future__ import annotations

from typing import Any, cast

from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.compiled import Compiled, stand_in_id
from config.permissions import USE_CONSOLE


class UsesConsolePermission(BasePermission):
    """Agents (and admins): an API that acts with the console's powers is gated by its
    permission. Subclasses set the ``message`` their clients already read on a 403."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.has_perm(USE_CONSOLE))


# JSON types each field takes from a JSON body. DRF coerces across types (the number 0
# becomes the name "0", the string "5" an id): the schema promises clients one type,
# so the API holds them to it. Form bodies are all text and keep DRF's parsing.
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...]], ...] = (
    (serializers.BooleanField, (bool,)),
    (serializers.ChoiceField, (str,)),
    (serializers.CharField, (str,)),
    (serializers.DateField, (str,)),
    (serializers.DateTimeField, (str,)),
    (serializers.IntegerField, (int,)),
    (serializers.FloatField, (int, float)),
    (serializers.PrimaryKeyRelatedField, (int,)),
    (serializers.ListField, (list,)),
)
ERR_JSON_TYPE = "Expected a JSON {expected}."
_TYPE_NAMES = {bool: "boolean", str: "string", int: "integer", float: "number", list: "array"}


def _json_type_errors(serializer: serializers.Serializer, data: Any) -> dict[str, list[str]]:
    if not isinstance(data, dict):
        return {}
    errors: dict[str, list[str]] = {}
    for name, field in serializer.fields.items():
        value = data.get(name)
        if field.read_only or value is None:
            continue  # absent or null: DRF's required and allow_null rules decide
        for field_class, types in _JSON_TYPES:
            if isinstance(field, field_class):
                wrong = not isinstance(value, types) or (
                    isinstance(value, bool) and bool not in types
                )
                if wrong:
                    errors[name] = [ERR_JSON_TYPE.format(expected=_TYPE_NAMES[types[0]])]
                break
    return errors


def validated_input(serializer_class: type[serializers.Serializer], request: Request) -> Any:
    """The request body checked by a view's ``Input`` serializer; invalid input raises
    DRF's ValidationError, which the view turns into a 400 with the field errors."""
    serializer = serializer_class(data=request.data)
    type_errors = {}
    if request.content_type.startswith("application/json"):
        type_errors = _json_type_errors(serializer, request.data)
    valid = serializer.is_valid()
    if type_errors or not valid:
        raise serializers.ValidationError(
            {**(serializer.errors if not valid else {}), **type_errors}
        )
    return serializer.validated_data


class CompiledPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """``PrimaryKeyRelatedField`` whose read is compiled once (``config.compiled``): the
    same ``queryset.get(pk=...)`` row, the same errors. For the ids every API hold and
    booking names, where building the read cost more than running it."""

    def __init__(
        self, *, queryset: QuerySet[Any], read: Compiled[Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(queryset=queryset, **kwargs)
        self.read = read or Compiled(lambda pk: queryset.filter(pk=pk).order_by(), pk=stand_in_id())
        # DRF copies a serializer's fields for every instance from these arguments; a
        # Compiled copies as itself, so every copy shares the compiled read.
        cast(Any, self)._kwargs["read"] = self.read

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledPrimaryKeyField:
        # DRF copies each argument deeply, the queryset with its whole query, for every
        # serializer instance. The field only ever clones its queryset (``get_queryset``
        # calls ``.all()``) and reads through the shared compiled read, so the copy
        # shares the queryset; the other arguments are flags and strings.
        made: Any = self  # DRF keeps the arguments a field was made with
        return self.__class__(*made._args, **made._kwargs)

    def to_internal_value(self, data: Any) -> Model:
        # What QuerySet.get(pk=data) makes of the value (IntegerField.get_prep_value).
        try:
            if isinstance(data, bool):
                raise TypeError
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        found = self.read.rows(pk=pk)
        if not found:
            self.fail("does_not_exist", pk_value=data)
        return found[0]


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
