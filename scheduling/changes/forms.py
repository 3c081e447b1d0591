"""Forms of the schedule-changes page: they check what ops typed; services write."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from config.inputs import single_line_validator, validate_calendar_date

from ..models import Location, Provider, ScheduleTemplate, Weekday
from .apply import provider_time_zone

ERR_PAST = "Choose today or a later date."
ERR_TIMES_PAIRED = "Give both a start and an end time, or neither for the whole day."
ERR_END_AFTER_START = "The end time must be after the start time."
ERR_BREAK_PAIRED = "Give both ends of the break, or neither."
# How far ahead a change may be entered: the slots exist only that far.
MAX_AHEAD_DAYS = 366


def _future_day(value: date) -> date:
    validate_calendar_date(value)
    if value < timezone.localdate() - timedelta(days=1):
        raise forms.ValidationError(ERR_PAST)
    return value


class ReasonField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=120, validators=[single_line_validator], **kwargs)


class TimeOffForm(forms.Form):
    provider = forms.ModelChoiceField(Provider.objects.filter(active=True).order_by("last_name"))
    day = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    start = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    reason = ReasonField(initial="Sick day")

    def clean_day(self) -> date:
        return _future_day(self.cleaned_data["day"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if (start is None) != (end is None):
            raise forms.ValidationError(ERR_TIMES_PAIRED)
        if start is not None and end is not None and end <= start:
            self.add_error("end", ERR_END_AFTER_START)
        return data

    def span(self) -> tuple[datetime, datetime]:
        """The time off as aware moments in the provider's zone; no times is the whole
        local day, midnight to midnight (23 or 25 hours across a DST change)."""
        data = self.cleaned_data
        zone = provider_time_zone(data["provider"])
        day: date = data["day"]
        if data.get("start") is None:
            start = datetime.combine(day, time.min, tzinfo=zone)
            end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
        else:
            start = datetime.combine(day, data["start"], tzinfo=zone)
            end = datetime.combine(day, data["end"], tzinfo=zone)
        # In UTC: Python subtracts and compares datetimes of one zone by wall clock.
        return start.astimezone(UTC), end.astimezone(UTC)


class ClosureForm(forms.Form):
    location = forms.ModelChoiceField(Location.objects.filter(active=True).order_by("name"))
    day = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    reason = ReasonField(initial="Weather")

    def clean_day(self) -> date:
        return _future_day(self.cleaned_data["day"])


def _template_choices() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        ScheduleTemplate.objects.filter(active=True).select_related("provider", "location"),
        required=False,
        empty_label="New template",
    )


class TemplateForm(forms.Form):
    """A new template (no ``template``) or new values for an existing one."""

    template = _template_choices()
    provider = forms.ModelChoiceField(Provider.objects.filter(active=True).order_by("last_name"))
    location = forms.ModelChoiceField(Location.objects.filter(active=True).order_by("name"))
    weekday = forms.TypedChoiceField(choices=Weekday.choices, coerce=int)
    start_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    slot_minutes = forms.IntegerField(min_value=5, max_value=240, initial=30)
    break_start = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    break_end = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    valid_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="empty: now"
    )
    valid_until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="empty: open"
    )

    def clean_valid_from(self) -> date | None:
        validate_calendar_date(self.cleaned_data.get("valid_from"))
        return self.cleaned_data.get("valid_from")

    def clean_valid_until(self) -> date | None:
        validate_calendar_date(self.cleaned_data.get("valid_until"))
        return self.cleaned_data.get("valid_until")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("break_start") is None) != (data.get("break_end") is None):
            self.add_error("break_end", ERR_BREAK_PAIRED)
        start, end = data.get("start_time"), data.get("end_time")
        if start is not None and end is not None and end <= start:
            self.add_error("end_time", ERR_END_AFTER_START)
        return data

    def fields_to_save(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in (
                "location",
                "weekday",
                "start_time",
                "end_time",
                "slot_minutes",
                "break_start",
                "break_end",
                "valid_until",
            )
        }
        if data.get("valid_from") is not None:
            fields["valid_from"] = data["valid_from"]
        elif data.get("template") is None:
            fields["valid_from"] = timezone.localdate()
        return fields


class TemplateEndForm(forms.Form):
    template = forms.ModelChoiceField(
        ScheduleTemplate.objects.filter(active=True).select_related("provider", "location")
    )
    last_day = forms.DateField(
        label="Last working day", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean_last_day(self) -> date:
        validate_calendar_date(self.cleaned_data["last_day"])
        return self.cleaned_data["last_day"]
