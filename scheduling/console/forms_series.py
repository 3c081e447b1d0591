"""Console forms of the recurring-series flow: what the agent typed, validated; the
series services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms

from scheduling.models import BookReason
from scheduling.recurrence import ERR_END, MAX_OCCURRENCES, PATTERNS
from scheduling.services.series import ACCEPT, SKIP

from .widgets import ConsoleForm


class SeriesForm(ConsoleForm):
    pattern = forms.ChoiceField(choices=PATTERNS, label="Repeat")
    interval = forms.IntegerField(min_value=1, max_value=12, initial=4, label="Every")
    count = forms.IntegerField(
        min_value=2, max_value=MAX_OCCURRENCES, required=False, initial=12, label="Visits"
    )
    until = forms.DateField(
        required=False, label="or until", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and (data.get("count") is None) == (data.get("until") is None):
            raise forms.ValidationError(ERR_END)
        return data


class SeriesDecisionForm(ConsoleForm):
    number = forms.IntegerField(min_value=1, max_value=MAX_OCCURRENCES)
    decision = forms.ChoiceField(choices=[(ACCEPT, "Accept"), (SKIP, "Skip")])


class SeriesAdjustForm(ConsoleForm):
    number = forms.IntegerField(min_value=1, max_value=MAX_OCCURRENCES)
    # The location's wall-clock time: the view reads it in the location's zone.
    start = forms.DateTimeField(
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class SeriesBookForm(ConsoleForm):
    reason = forms.ChoiceField(choices=[("", "Reason…"), *BookReason.choices])
