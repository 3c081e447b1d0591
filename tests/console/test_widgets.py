"""The console's drop-downs: the same options and selection as Django's Select, and on
PostgreSQL kept per network version, so an edit to the network shows at the next drawing."""

from __future__ import annotations

import re

import pytest
from django import forms as django_forms
from django.db import connection
from django.forms.renderers import get_default_renderer
from django.test.utils import CaptureQueriesContext

from scheduling.console import forms, forms_series, widgets
from scheduling.models import Location, Provider
from tests import factories as f

pytestmark = pytest.mark.django_db

OPTION = re.compile(r'<option value="([^"]*)"( selected)?>([^<]*)</option>')


def options(html: str) -> list[tuple[str, bool, str]]:
    return [(value, bool(selected), label) for value, selected, label in OPTION.findall(html)]


def django_options(bound: django_forms.BoundField) -> list[tuple[str, bool, str]]:
    """What Django's own Select would write for the same field and value."""
    widget = bound.field.widget
    ref = django_forms.SelectMultiple() if widget.allow_multiple_selected else django_forms.Select()
    ref.choices = widget.choices
    html = ref.render(bound.html_name, bound.value(), {"id": bound.auto_id})
    return options(re.sub(r"\s*\n\s*", "", html))


def test_the_finder_lists_and_marks_what_djangos_select_would():
    net = f.console_network()
    twin = f.provider(first_name="Lee", last_name="Park", credential="DDS")
    state = {
        "appointment_type": net["consult"].pk,
        "location": net["lakewood"].pk,
        "provider": twin.pk,
    }
    for _ in range(2):  # drawn afresh, then (PostgreSQL) from the kept options
        form = forms.SlotFinderForm(initial=state)
        for name in ("appointment_type", "region", "location", "provider"):
            ours = options(str(form[name]))
            assert ours == django_options(form[name]), name
            assert [value for value, selected, _ in ours if selected] == [
                str(state.get(name, "")) if name in state else ""
            ]
    labels = [label for _, _, label in options(str(forms.SlotFinderForm()["provider"]))]
    assert any("NPI" in label for label in labels)  # the two Lee Parks are told apart


def test_a_multiple_choice_list_marks_every_chosen_value():
    one, two, three = f.location(), f.location(), f.location()
    form = forms.WaitlistForm(prefix="wl", data={"wl-locations": [str(one.pk), str(three.pk)]})
    html = str(form["locations"])
    assert " multiple" in html
    assert options(html) == django_options(form["locations"])
    chosen = {value for value, selected, _ in options(html) if selected}
    assert chosen == {str(one.pk), str(three.pk)}
    assert str(two.pk) not in chosen


def test_marking_a_selection_escapes_the_value_and_selects_once():
    html = '<option value="">Any</option><option value="a&amp;b">A</option>'
    assert widgets.mark_selected(html, ["a&b"], multiple=False) == (
        '<option value="">Any</option><option value="a&amp;b" selected>A</option>'
    )
    assert widgets.mark_selected(html, ["zzz"], multiple=False) == html
    assert widgets.mark_selected(html, ["", "a&b"], multiple=False).count(" selected") == 1
    assert widgets.mark_selected(html, ["", "a&b"], multiple=True).count(" selected") == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the version row is PostgreSQL's")
def test_kept_options_cost_one_read_and_follow_every_edit_of_the_network():
    loc = f.location(name="Aurora Dental")
    prov = f.provider(first_name="Ana", last_name="Ruiz", locations=[loc])
    str(forms.SlotFinderForm()["provider"])  # keeps the options

    with CaptureQueriesContext(connection) as queries:
        html = str(forms.SlotFinderForm()["provider"])
    assert "Ana Ruiz" in html
    assert [q["sql"] for q in queries.captured_queries] == [
        "SELECT version FROM scheduling_network_version WHERE id = 1"
    ]

    # Edits made any way at all show at the next drawing: a queryset update, a new row,
    # a provider leaving the list.
    Provider.objects.filter(pk=prov.pk).update(last_name="Ruiz-Ortega")
    assert "Ana Ruiz-Ortega" in str(forms.SlotFinderForm()["provider"])
    f.provider(first_name="Bo", last_name="Chen", locations=[loc])
    assert "Bo Chen" in str(forms.SlotFinderForm()["provider"])
    Provider.objects.filter(pk=prov.pk).update(active=False)
    assert "Ana Ruiz" not in str(forms.SlotFinderForm()["provider"])
    Location.objects.filter(pk=loc.pk).update(name="Aurora Family Dental")
    assert "Aurora Family Dental" in str(forms.SlotFinderForm()["location"])


def test_lists_of_tables_the_version_does_not_cover_are_read_every_time():
    f.region(name="High Plains", code="high-plains")
    str(forms.SlotFinderForm()["region"])
    with CaptureQueriesContext(connection) as queries:
        html = str(forms.SlotFinderForm()["region"])
    assert "High Plains" in html
    assert any("scheduling_region" in q["sql"] for q in queries.captured_queries)


def _every_console_form():
    net = f.console_network()
    yield forms.CallStartForm(data={"caller_phone": "12", "reason": "x"})
    yield forms.WrapUpForm(initial={"outcome": "booked", "reason": "urgent"})
    yield forms.WrapUpForm(data={"outcome": "", "notes": 'a <b> "c"\n', "callback_in": "60"})
    yield forms.SearchForm(initial={"query": "O'Brien <x>"})
    yield forms.RegisterForm(initial={"phone": "3035550100"})
    yield forms.RegisterForm(data={"first_name": "Ann", "home_location": net["cherry"].pk})
    yield forms.SlotFinderForm(initial={"appointment_type": net["consult"].pk, "max_distance": 5})
    yield forms.SlotFinderForm(data={"appointment_type": "", "date_from": "2000-01-01"})
    yield forms.BookForm(data={"network_override": "on", "network_override_reason": ""})
    yield forms.CancelForm()
    yield forms.ReferralForm(prefix="rf")
    yield forms.WaitlistForm(prefix="wl", data={"wl-earliest": "x", "wl-time_of_day": "am"})
    yield forms.ShortcutsForm(initial={"enabled": True, "key_call": "c"})
    yield forms_series.SeriesForm(prefix="series")
    yield forms_series.SeriesAdjustForm(data={"number": "2", "start": "2030-01-02T09:00"})
    yield forms_series.SeriesDecisionForm()
    yield forms_series.SeriesBookForm(prefix="series")


def test_console_forms_write_the_markup_djangos_templates_would():
    reference = get_default_renderer()
    for form in _every_console_form():
        assert form.renderer is widgets.PYTHON_WIDGETS
        if form.is_bound:
            form.is_valid()  # the fields show their errors
        for bound in form:
            ours = str(bound)
            form.renderer = reference
            theirs = str(bound)
            form.renderer = widgets.PYTHON_WIDGETS
            if not isinstance(bound.field.widget, widgets.PlainSelect):  # compared above
                assert ours == theirs, (type(form).__name__, bound.name)
