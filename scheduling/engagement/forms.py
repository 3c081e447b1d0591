from __future__ import annotations

from django import forms

from ..models import AppointmentType, Channel


class IdentifyForm(forms.Form):
    first_name = forms.CharField(max_length=60, label="First name")
    last_name = forms.CharField(max_length=60, label="Last name")
    date_of_birth = forms.DateField(
        label="Date of birth", widget=forms.DateInput(attrs={"type": "date"})
    )
    channel = forms.ChoiceField(
        choices=Channel.choices,
        initial=Channel.SMS,
        widget=forms.RadioSelect,
        label="Send my code by",
    )


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        label="One-time code",
        error_messages={"invalid": "The code has six digits."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class SearchForm(forms.Form):
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.filter(self_service=True).order_by("name"),
        label="Type of visit",
        empty_label=None,
    )


class BookForm(SearchForm):
    slot_id = forms.IntegerField(widget=forms.HiddenInput)


class FirstVisitForm(forms.Form):
    first_name = forms.CharField(max_length=60, label="First name")
    last_name = forms.CharField(max_length=60, label="Last name")
    phone = forms.RegexField(
        regex=r"^[\d\s()+.-]{10,20}$",
        label="Phone",
        error_messages={"invalid": "Enter a phone number."},
    )
    note = forms.CharField(
        max_length=300,
        required=False,
        label="What is the visit for?",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
