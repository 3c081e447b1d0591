"""Rule params: declared per rule, checked in admin, never able to break a search."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from scheduling.models import RuleSetting
from scheduling.rules.base import params_errors
from scheduling.rules.registry import RULES, RULES_BY_KEY
from scheduling.selectors import slot_search
from tests import factories as f

from .test_selectors import network  # noqa: F401  (fixture)


def test_every_rule_declares_its_params_with_a_valid_default():
    for rule in RULES:
        assert set(rule.default_params) == {s.name for s in rule.param_specs}
        assert params_errors(rule.param_specs, dict(rule.default_params)) == []


@pytest.mark.parametrize(
    ("key", "params", "words"),
    [
        ("earliest-date", {"horizon_days": "thirty"}, ["horizon_days", "whole number"]),
        ("earliest-date", {"horizon_days": 0}, ["horizon_days", "at least 1"]),
        ("earliest-date", {"horizon": 30}, ["unknown param 'horizon'", "horizon_days"]),
        ("distance-from-home", {"scale_miles": True}, ["scale_miles", "a number"]),
        ("provider-accepts-new", {"lookback_years": 2.5}, ["lookback_years", "whole number"]),
    ],
)
def test_bad_params_are_named_in_the_error(key, params, words):
    errors = " ".join(params_errors(RULES_BY_KEY[key].param_specs, params))
    for word in words:
        assert word in errors


@pytest.mark.django_db
def test_model_clean_refuses_bad_params_and_unknown_keys():
    with pytest.raises(ValidationError) as bad:
        RuleSetting(key="earliest-date", params={"horizon_days": "thirty"}).full_clean()
    assert "horizon_days" in str(bad.value.message_dict["params"])
    with pytest.raises(ValidationError) as unknown:
        RuleSetting(key="no-such-rule").full_clean()
    assert "key" in unknown.value.message_dict
    RuleSetting(key="max-distance", params={"max_miles": None}).full_clean()  # null allowed


@pytest.mark.django_db
def test_admin_form_shows_a_field_error_and_saves_nothing(admin_client):
    row = RuleSetting.objects.create(key="earliest-date", weight=3.0, params={"horizon_days": 30})
    url = reverse("admin:scheduling_rulesetting_change", args=[row.pk])

    response = admin_client.post(
        url,
        {
            "key": "earliest-date",
            "enabled": "on",
            "weight": "3.0",
            "params": '{"horizon_days": "thirty"}',
            "description": "",
        },
    )

    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert "horizon_days" in str(errors["params"])
    row.refresh_from_db()
    assert row.params == {"horizon_days": 30}


@pytest.mark.django_db
def test_a_bad_row_written_by_sql_falls_back_to_the_default(network, caplog):  # noqa: F811
    RuleSetting.objects.create(
        key="earliest-date", weight=3.0, params={"horizon_days": "thirty", "x": 1}
    )
    RuleSetting.objects.create(key="distance-from-home", weight=3.0, params=["not", "an object"])
    patient = f.patient(first_name="Zelda")

    with caplog.at_level(logging.WARNING, logger="scheduling.rules.loading"):
        result = slot_search(
            patient=patient, appointment_type=f.appointment_type(), home_region_only=False
        )

    assert result.options
    assert any(p.rule == "earliest-date" for p in result.options[0].breakdown)
    logged = caplog.text
    assert "horizon_days" in logged and "earliest-date" in logged
    assert "thirty" not in logged and "Zelda" not in logged
