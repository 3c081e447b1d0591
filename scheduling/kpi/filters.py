"""The filter bar shared by every KPI page: ids and dates only, so GET URLs carry no PHI."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from config.inputs import validate_calendar_date
from config.roles import AGENT
from scheduling.models import AppointmentType, Location, Region

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 28
DEFAULT_ACCURACY_DAYS = 14

ERROR_RANGE_ORDER = "The start date must be on or before the end date."
ERROR_RANGE_LENGTH = f"Pick a range of at most {MAX_RANGE_DAYS} days."


@dataclass(frozen=True)
class KpiFilters:
    """What every selector receives. Dates are whole UTC days, ``date_to`` inclusive."""

    date_from: date
    date_to: date
    region_id: int | None = None
    location_id: int | None = None
    agent_id: int | None = None
    appointment_type_id: int | None = None
    accuracy_days: int = DEFAULT_ACCURACY_DAYS

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive upper bound: midnight after ``date_to``."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def days(self) -> int:
        return self.length.days

    @property
    def prev_start(self) -> datetime:
        return self.start - self.length

    def previous(self) -> KpiFilters:
        """The period of equal length just before this one, same scope."""
        return replace(
            self,
            date_from=self.date_from - self.length,
            date_to=self.date_from - timedelta(days=1),
        )

    def query(self, **extra: Any) -> str:
        params: dict[str, Any] = {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
        }
        for key in ("region_id", "location_id", "agent_id", "appointment_type_id"):
            value = getattr(self, key)
            if value is not None:
                params[key.removesuffix("_id") if key != "appointment_type_id" else "type"] = value
        if self.accuracy_days != DEFAULT_ACCURACY_DAYS:
            params["accuracy_days"] = self.accuracy_days
        params.update({k: v for k, v in extra.items() if v is not None})
        return urlencode(params)


def default_filters(today: date | None = None) -> KpiFilters:
    today = today or timezone.now().date()
    return KpiFilters(date_from=today - timedelta(days=DEFAULT_RANGE_DAYS - 1), date_to=today)


def _choices(rows: Any, everything: str) -> list[tuple[str, str]]:
    # The empty choice means "no filter": say so ("All regions"), not Django's "---------".
    return [("", everything), *((str(pk), label) for pk, label in rows)]


def _region_choices() -> list[tuple[str, str]]:
    return _choices(Region.objects.order_by("name").values_list("pk", "name"), "All regions")


def _location_choices() -> list[tuple[str, str]]:
    return _choices(Location.objects.order_by("name").values_list("pk", "name"), "All locations")


def _agent_choices() -> list[tuple[str, str]]:
    # Agent names are staff data, not PHI; the URL still carries only the id.
    agents = User.objects.filter(groups__name=AGENT).order_by("username")
    return _choices(
        (
            (u.pk, u.get_full_name() or u.get_username())
            for u in agents.only("username", "first_name", "last_name")
        ),
        "All agents",
    )


def _type_choices() -> list[tuple[str, str]]:
    return _choices(
        AppointmentType.objects.order_by("name").values_list("pk", "name"), "All appointment types"
    )


def _id_field(choices: Any, label: str | None = None) -> forms.TypedChoiceField:
    # Plain id choices read with one small query each, not ModelChoiceFields: those
    # iterate through server-side cursors, four extra round trips on every page.
    return forms.TypedChoiceField(
        choices=choices, coerce=int, empty_value=None, required=False, label=label
    )


class KpiFilterForm(forms.Form):
    date_from = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_date],
    )
    date_to = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_date],
    )
    region = _id_field(_region_choices)
    location = _id_field(_location_choices)
    agent = _id_field(_agent_choices)
    type = _id_field(_type_choices, label="Appointment type")
    accuracy_days = forms.IntegerField(
        required=False, min_value=1, max_value=90, label="Accuracy window (days)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        defaults = default_filters()
        start = data.get("date_from") or (
            data["date_to"] - timedelta(days=DEFAULT_RANGE_DAYS - 1)
            if data.get("date_to")
            else defaults.date_from
        )
        end = data.get("date_to") or max(start, defaults.date_to)
        if start > end:
            raise forms.ValidationError(ERROR_RANGE_ORDER)
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise forms.ValidationError(ERROR_RANGE_LENGTH)
        data["date_from"], data["date_to"] = start, end
        return data

    def filters(self) -> KpiFilters:
        """Valid form → filters; call only after ``is_valid()`` returned True."""
        data = self.cleaned_data

        def pk(name: str) -> int | None:
            value = data.get(name)
            return int(value) if value is not None else None

        return KpiFilters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            region_id=pk("region"),
            location_id=pk("location"),
            agent_id=pk("agent"),
            appointment_type_id=pk("type"),
            accuracy_days=data.get("accuracy_days") or DEFAULT_ACCURACY_DAYS,
        )
