"""Shared by the console view tests: the htmx header and small worlds to book in."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from config.models import AuditEntry as LogEntry
from tests import factories as f

HX = {"HX-Request": "true"}


def bookable(agent_region=None):
    loc = f.location(region=agent_region) if agent_region else f.location()
    prov = f.provider(locations=[loc])
    slot = f.slot(provider=prov, location=loc, start=timezone.now() + timedelta(days=2))
    return loc, prov, slot


def out_of_network_patient(net):
    """Cherry Creek takes the patient's plan; Dr. Park does not."""
    plan = f.plan()
    patient = f.patient()
    f.coverage(patient=patient, plan=plan)
    f.in_network(plan=plan, location=net["cherry"])
    return patient, plan


def accesses(user, patient=None):
    entries = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=user)
    if patient is not None:
        entries = entries.filter(object_pk=str(patient.pk))
    return entries.count()
