"""Waitlist offers by text: a freed slot goes to the best waiting matches (the slot
finder's rules, first come first served), several at once; the first YES wins."""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from patients.models import Patient

from ..models import (
    Appointment,
    BookReason,
    Channel,
    PatientMessage,
    Slot,
    Waitlist,
    WaitlistOffer,
)
from ..selectors.waitlist import WaitlistMatch, waitlist_matches_recently_freed
from .actor import engagement_actor
from .messages import patient_messages_queue
from .quiet import in_quiet_hours
from .texts import Visit, render


def _text(patient: Patient, kind: str, key: str, visit: Visit, **extra: object) -> PatientMessage:
    return PatientMessage(
        patient=patient,
        location_id=patient.home_location_id,
        kind=kind,
        channel=Channel.SMS,
        language=patient.preferred_language or "en",
        body=render(key, patient.preferred_language, visit, **extra),
        created_at=timezone.now(),
    )


def _slot_visit(slot: Slot, type_name: str) -> Visit:
    zone = zoneinfo.ZoneInfo(slot.location.time_zone)
    return Visit(type_name, slot.location.name, slot.start.astimezone(zone))


def waitlist_offers_send(*, since: datetime | None = None, now: datetime | None = None) -> int:
    """Offer time freed since ``since`` (default: the last day) to waiting patients by
    text, ``ENGAGEMENT_OFFER_FAN_OUT`` at a time per slot, in the matches' order. A slot
    with a live offer gets no new one until it is answered or expires; an entry is never
    offered the same slot twice. Returns how many offers it sent."""
    now = now or timezone.now()
    since = since or now - timedelta(days=1)
    quiet = (settings.ENGAGEMENT_QUIET_START_HOUR, settings.ENGAGEMENT_QUIET_END_HOUR)
    by_slot: dict[int, list[WaitlistMatch]] = defaultdict(list)
    for match in waitlist_matches_recently_freed(since=since, limit=500):
        by_slot[match.slot_id].append(match)
    if not by_slot:
        return 0
    live = set(
        WaitlistOffer.objects.filter(
            slot_id__in=by_slot, status=WaitlistOffer.Status.OFFERED, expires_at__gt=now
        ).values_list("slot_id", flat=True)
    )
    asked = set(
        WaitlistOffer.objects.filter(slot_id__in=by_slot).values_list("entry_id", "slot_id")
    )
    zones = dict(Slot.objects.filter(pk__in=by_slot).values_list("pk", "location__time_zone"))
    sent = 0
    expires = now + timedelta(minutes=settings.ENGAGEMENT_OFFER_MINUTES)
    for slot_id, matches in by_slot.items():
        if slot_id in live:
            continue
        chosen = []
        for match in matches:
            if (match.entry_id, slot_id) in asked:
                continue
            entry = Waitlist.objects.select_related("patient", "patient__home_location").get(
                pk=match.entry_id
            )
            patient = entry.patient
            zone = patient.home_location.time_zone if patient.home_location else zones[slot_id]
            if (
                entry.status != Waitlist.Status.OPEN
                or not patient.consent_sms
                or patient.sms_opted_out_at is not None
                or in_quiet_hours(now, zone, start_hour=quiet[0], end_hour=quiet[1])
            ):
                continue
            chosen.append(entry)
            if len(chosen) >= settings.ENGAGEMENT_OFFER_FAN_OUT:
                break
        if chosen:
            sent += _offer(slot_id, chosen, now, expires)
    return sent


def _offer(slot_id: int, entries: Sequence[Waitlist], now: datetime, expires: datetime) -> int:
    slot = Slot.objects.select_related("location").get(pk=slot_id)
    messages: list[PatientMessage] = []
    actor = engagement_actor()
    with transaction.atomic():
        for entry in entries:
            if not Waitlist.objects.filter(pk=entry.pk, status=Waitlist.Status.OPEN).update(
                status=Waitlist.Status.OFFERED, offered_slot=slot, offered_by=actor, offered_at=now
            ):
                continue
            WaitlistOffer.objects.create(entry=entry, slot=slot, created_at=now, expires_at=expires)
            visit = _slot_visit(slot, entry.appointment_type.name)
            minutes = settings.ENGAGEMENT_OFFER_MINUTES
            messages.append(
                _text(entry.patient, PatientMessage.Kind.OFFER, "offer", visit, minutes=minutes)
            )
        patient_messages_queue(messages=messages)
    return len(messages)


def waitlist_offer_answer(*, patient_ids: Sequence[int], accept: bool) -> bool:
    """A YES or NO to the latest live offer made to these patients. Returns False when
    there is none (the text then goes to review).

    First yes wins: the accepting update is conditional (a live, unanswered offer), and
    the partial unique index ``waitlist_offer_one_winner`` admits one accepted offer per
    slot, so of two YES replies handled at the same instant one books and the other is
    told the time was taken. The winner is booked through a hold, as an agent would.
    """
    now = timezone.now()
    offer = (
        WaitlistOffer.objects.select_related(
            "slot", "slot__location", "entry", "entry__patient", "entry__appointment_type"
        )
        .filter(
            entry__patient_id__in=patient_ids,
            status=WaitlistOffer.Status.OFFERED,
            expires_at__gt=now,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if offer is None:
        return False
    entry, patient = offer.entry, offer.entry.patient
    visit = _slot_visit(offer.slot, entry.appointment_type.name)
    if not accept:
        with transaction.atomic():
            if WaitlistOffer.objects.filter(
                pk=offer.pk, status=WaitlistOffer.Status.OFFERED
            ).update(status=WaitlistOffer.Status.DECLINED, answered_at=now):
                _reopen([entry.pk])
        return True
    with transaction.atomic():
        appointment = _accept(offer, now)
        if appointment is None:
            WaitlistOffer.objects.filter(pk=offer.pk, status=WaitlistOffer.Status.OFFERED).update(
                status=WaitlistOffer.Status.TAKEN, answered_at=now
            )
            _reopen([entry.pk])
            patient_messages_queue(
                messages=[_text(patient, PatientMessage.Kind.TAKEN, "taken", visit)]
            )
            return True
        others = list(
            WaitlistOffer.objects.select_related("entry__patient")
            .filter(slot_id=offer.slot_id, status=WaitlistOffer.Status.OFFERED)
            .exclude(pk=offer.pk)
        )
        WaitlistOffer.objects.filter(pk__in=[o.pk for o in others]).update(
            status=WaitlistOffer.Status.TAKEN, answered_at=now
        )
        _reopen([o.entry_id for o in others])
        # The patient's own confirmation carries a telehealth visit's link.
        booked = dataclasses.replace(visit, video_link=appointment.video_link)
        patient_messages_queue(
            messages=[_text(patient, PatientMessage.Kind.BOOKED, "booked", booked)]
            + [_text(o.entry.patient, PatientMessage.Kind.TAKEN, "taken", visit) for o in others]
        )
    return True


def _accept(offer: WaitlistOffer, now: datetime) -> Appointment | None:
    """Claim the slot for this offer and book it; None when another YES got there first
    or the slot went another way (an agent booked it)."""
    from ..services import appointment_book, hold_place
    from ..services.errors import SchedulingError

    actor = engagement_actor()
    try:
        with transaction.atomic():
            claimed = WaitlistOffer.objects.filter(
                pk=offer.pk, status=WaitlistOffer.Status.OFFERED, expires_at__gt=now
            ).update(status=WaitlistOffer.Status.ACCEPTED, answered_at=now)
            if not claimed:
                return None
            hold = hold_place(
                slot=offer.slot,
                by=actor,
                patient=offer.entry.patient,
                appointment_type=offer.entry.appointment_type,
            )
            appointment = appointment_book(
                hold=hold,
                patient=offer.entry.patient,
                appointment_type=offer.entry.appointment_type,
                by=actor,
                reason=BookReason.FOLLOW_UP,
                channel=Appointment.Channel.SELF,
            )
            WaitlistOffer.objects.filter(pk=offer.pk).update(appointment=appointment)
            # The booking filled the entry if it fits its window; it was made for it.
            Waitlist.objects.filter(pk=offer.entry_id).exclude(
                status=Waitlist.Status.BOOKED
            ).update(status=Waitlist.Status.BOOKED, appointment=appointment, closed_at=now)
            return appointment
    except (IntegrityError, SchedulingError):
        return None


def _reopen(entry_ids: Sequence[int]) -> None:
    Waitlist.objects.filter(pk__in=entry_ids, status=Waitlist.Status.OFFERED).update(
        status=Waitlist.Status.OPEN
    )


def waitlist_offers_expire(*, now: datetime | None = None) -> int:
    """Offers past their time lapse; their entries wait again. Returns the count."""
    now = now or timezone.now()
    with transaction.atomic():
        lapsed = list(
            WaitlistOffer.objects.filter(
                status=WaitlistOffer.Status.OFFERED, expires_at__lte=now
            ).values_list("pk", "entry_id")
        )
        WaitlistOffer.objects.filter(pk__in=[pk for pk, _ in lapsed]).update(
            status=WaitlistOffer.Status.EXPIRED
        )
        _reopen([entry_id for _, entry_id in lapsed])
    return len(lapsed)
