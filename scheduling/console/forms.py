"""Console forms: they validate what the agent typed; services do the writing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from config.inputs import validate_calendar_date
from patients.models import Patient
from patients.phones import normalize_phone
from patients.validation import registration_errors
from scheduling.models import (
    AppointmentType,
    BookReason,
    Call,
    CallReason,
    CancelReason,
    Location,
    Provider,
    Referral,
    Region,
    Waitlist,
)

from .shortcuts import ACTIONS
from .widgets import PYTHON_WIDGETS, ConsoleForm, PlainSelect, PlainSelectMultiple

MAX_WINDOW_DAYS = 120


class FetchedChoiceIterator(forms.models.ModelChoiceIterator):
    """The choices from one plain query. Django's iterator reads them through a
    server-side cursor on PostgreSQL (DECLARE, FETCH, CLOSE: three round trips, and a
    cursor held over commit), which pays off for huge tables, not for the few hundred
    rows of a drop-down that the console draws several times per response."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class FetchedChoiceField(forms.ModelChoiceField):
    iterator = FetchedChoiceIterator
    widget = PlainSelect


class FetchedMultipleChoiceField(forms.ModelMultipleChoiceField):
    iterator = FetchedChoiceIterator
    widget = PlainSelectMultiple


class ProviderChoiceField(FetchedChoiceField):
    """Providers by name; two who would read the same get their credential and the last
    four digits of their NPI, so the agent can tell "Dr. Lee Park" from "Dr. Lee Park"."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        copied = super().__deepcopy__(memo)
        copied._shared_names = None  # each form counts afresh
        return copied

    _shared_names: set[str] | None = None

    def label_from_instance(self, obj: Any) -> str:
        if self._shared_names is None and self.queryset is not None:
            rows = self.queryset.only("first_name", "last_name", "credential")
            counts = Counter(str(p) for p in rows)
            self._shared_names = {name for name, n in counts.items() if n > 1}
        name = str(obj)
        if name not in (self._shared_names or ()):
            return name
        credential = f"{obj.credential}, " if obj.credential else ""
        return f"{name} ({credential}NPI …{obj.npi[-4:]})"


class CallStartForm(ConsoleForm):
    caller_phone = forms.CharField(max_length=25, required=False, label="Caller's phone")
    # Optional at the start (often only clear once the caller explains); required at
    # wrap-up, where it is prefilled from what the call did.
    reason = forms.ChoiceField(
        choices=[("", "Reason…"), *CallReason.choices],
        required=False,
        label="Reason",
        # Own id: the booking form's reason code is id_reason on the same page.
        widget=forms.Select(attrs={"id": "id_call_reason"}),
    )

    def clean_caller_phone(self) -> str:
        raw = self.cleaned_data["caller_phone"]
        digits = normalize_phone(raw)
        if raw and len(digits) < 7:
            raise forms.ValidationError("A phone number needs at least 7 digits.")
        return digits


class SearchForm(ConsoleForm):
    query = forms.CharField(
        max_length=120,
        label="Find patient",
        help_text="Name (typos are fine), date of birth, phone, MRN or member id",
    )


class RegisterForm(forms.ModelForm):
    default_renderer = PYTHON_WIDGETS
    confirmed_not_duplicate = forms.BooleanField(
        required=False, label="I checked the possible matches: this caller is not a duplicate"
    )

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "phone",
            "email",
            "zip_code",
            "preferred_language",
            "home_location",
        ]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "home_location": PlainSelect,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        home = self.fields["home_location"]
        assert isinstance(home, forms.ModelChoiceField)
        home.iterator = FetchedChoiceIterator  # before the queryset, which builds the choices
        home.queryset = Location.objects.filter(active=True)

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data.get("phone", "") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, messages in registration_errors(data).items():
            if name in self.fields and name not in self.errors:
                for message in messages:
                    self.add_error(name, message)
        return data


class SlotFinderForm(ConsoleForm):
    TIME_OF_DAY = [
        ("", "Any time"),
        ("morning", "Morning"),
        ("afternoon", "Afternoon"),
        ("evening", "Evening"),
    ]

    appointment_type = FetchedChoiceField(
        queryset=AppointmentType.objects.filter(active=True),
        label="Appointment type",
        empty_label="Choose…",
    )
    region = FetchedChoiceField(
        queryset=Region.objects.all(), required=False, empty_label="Whole network"
    )
    location = FetchedChoiceField(
        queryset=Location.objects.filter(active=True), required=False, empty_label="Any location"
    )
    provider = ProviderChoiceField(
        queryset=Provider.objects.filter(active=True), required=False, empty_label="Any provider"
    )
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_date],
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_date],
    )
    time_of_day = forms.ChoiceField(choices=TIME_OF_DAY, required=False, label="Time of day")
    max_distance = forms.IntegerField(
        required=False, min_value=1, max_value=500, label="Max distance (mi)"
    )
    # Shown only to agents allowed to override the network; slot_search ignores it for
    # anyone else.
    out_of_network = forms.BooleanField(
        required=False, label="Include out-of-network options (needs an override reason)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        today = timezone.localdate()
        if start and start < today:
            self.add_error("date_from", "The window cannot start in the past.")
        if start and end and end < start:
            self.add_error("date_to", "The window must end after it starts.")
        if start and end and (end - start) > timedelta(days=MAX_WINDOW_DAYS):
            self.add_error("date_to", f"Search at most {MAX_WINDOW_DAYS} days at a time.")
        return data


class HoldForm(ConsoleForm):
    slot_id = forms.IntegerField(min_value=1)


class BookForm(ConsoleForm):
    reason = forms.ChoiceField(choices=[("", "Reason…"), *BookReason.choices])
    network_override = forms.BooleanField(required=False, label="Book out of network")
    network_override_reason = forms.CharField(
        max_length=200, required=False, label="Why out of network"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("network_override") and not data.get("network_override_reason", "").strip():
            self.add_error(
                "network_override_reason", "Booking out of network needs a reason on file."
            )
        if not data.get("network_override"):
            data["network_override_reason"] = ""
        return data


class AppointmentActionForm(ConsoleForm):
    appointment_id = forms.IntegerField(min_value=1)


CANCEL_REASONS = [("", "Reason…"), *CancelReason.choices]


class CancelForm(AppointmentActionForm):
    reason = forms.ChoiceField(choices=CANCEL_REASONS)


class RescheduleForm(CancelForm):
    network_override_reason = forms.CharField(
        max_length=200, required=False, label="Why out of network"
    )


class ReferralForm(ConsoleForm):
    """A referral typed in from a letter or a fax."""

    appointment_type = FetchedChoiceField(
        queryset=AppointmentType.objects.filter(active=True), label="Visit requested"
    )
    referring_provider = forms.CharField(max_length=120, label="Referred by")
    referring_npi = forms.RegexField(
        regex=r"^\d{10}$",
        required=False,
        label="Referrer NPI",
        error_messages={"invalid": "An NPI is ten digits."},
    )
    priority = forms.ChoiceField(choices=Referral.Priority.choices)
    reason = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class WaitlistForm(ConsoleForm):
    appointment_type = FetchedChoiceField(
        queryset=AppointmentType.objects.filter(active=True), label="Appointment type"
    )
    earliest = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_calendar_date]
    )
    latest = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_calendar_date]
    )
    time_of_day = forms.ChoiceField(choices=Waitlist.TimeOfDay.choices, required=False)
    locations = FetchedMultipleChoiceField(
        queryset=Location.objects.filter(active=True), required=False
    )
    notes = forms.CharField(max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("earliest") and data.get("latest") and data["latest"] < data["earliest"]:
            self.add_error("latest", "The latest date must be on or after the earliest.")
        return data


class ShortcutsForm(ConsoleForm):
    """An agent's shortcuts: on or off, and one character per action."""

    enabled = forms.BooleanField(required=False, label="Keyboard shortcuts on")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for action, (_, label) in ACTIONS.items():
            self.fields[f"key_{action}"] = forms.CharField(
                max_length=1, strip=False, label=label.capitalize()
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        seen: dict[str, str] = {}
        for action in ACTIONS:
            key = data.get(f"key_{action}")
            if key is None:
                continue
            if key.isspace():
                self.add_error(f"key_{action}", "A shortcut needs a visible character.")
            elif key in seen:
                self.add_error(f"key_{action}", f"'{key}' is already the {seen[key]} key.")
            else:
                seen[key] = ACTIONS[action][1]
        return data

    def keys(self) -> dict[str, str]:
        return {action: self.cleaned_data[f"key_{action}"] for action in ACTIONS}


CALLBACK_IN = [
    ("", "Call back in…"),
    ("30", "30 minutes"),
    ("60", "1 hour"),
    ("120", "2 hours"),
    ("240", "4 hours"),
    ("1440", "1 day"),
]


class WrapUpForm(ConsoleForm):
    # "Abandoned" is the system's, for calls nobody wrapped up.
    outcome = forms.ChoiceField(
        choices=[
            ("", "Outcome…"),
            *((v, label) for v, label in Call.Outcome.choices if v != Call.Outcome.ABANDONED),
        ]
    )
    reason = forms.ChoiceField(
        choices=[("", "Reason…"), *CallReason.choices],
        label="Reason",
        error_messages={"required": "Choose why the patient called."},
        widget=forms.Select(attrs={"id": "id_wrapup_reason"}),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # Relative, so no time zone is in doubt; used only with "Callback needed".
    callback_in = forms.TypedChoiceField(
        label="Call back",
        choices=CALLBACK_IN,
        coerce=int,
        required=False,
        empty_value=None,
    )
