"""The engagement KPI page (/kpi/engagement/): automation share counting the work
patients do themselves, confirmation rate, no-shows by reminder status, waitlist fill
rate and time to fill, and opt-outs; both periods in one query per source, with the
page's filters, drill-downs and CSV like every other section."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)

from ..models import Appointment, Channel, PatientMessage, WaitlistOffer
from .drill import APPOINTMENT_COLUMNS, fmt_time
from .filters import KpiFilters
from .metrics import Metric, rate_metric, seconds
from .registry import Column, Drill, Section, drill_register, section_register
from .selectors import (
    appointments_scoped,
    booking_q,
    in_both,
    in_current,
    in_period,
    in_previous,
    scoped,
)
from .tables import Page

DEF_AUTOMATION = (
    "Work done without an agent (bookings patients made online or by answering a waitlist "
    "text, and visits they confirmed by text) over all bookings, cancellations, moves and "
    "confirmations in the period."
)
DEF_CONFIRM = "Reminded visits starting in the period that the patient confirmed by text."
DEF_NO_SHOW = "No-shows among visits that started in the period and were attended or missed,"
DEF_FILL = "Slots offered to the waitlist by text in the period that a waiting patient took."
DEF_TTF = (
    "Average time from a text offer to the YES that booked it, for offers taken in the period."
)
DEF_OPT_OUT = "Patients who answered STOP in the period over patients texted in the period."
ENDED = (Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW, Appointment.Status.ARRIVED)


def _reminded() -> Exists:
    return Exists(
        PatientMessage.objects.filter(
            appointment_id=OuterRef("pk"), kind=PatientMessage.Kind.REMINDER
        )
    )


def _offers(f: KpiFilters) -> QuerySet[WaitlistOffer]:
    return scoped(
        WaitlistOffer.objects.all(),
        f,
        location="slot__location_id",
        appointment_type="entry__appointment_type_id",
    )


def engagement_metrics(f: KpiFilters) -> list[Metric]:
    appts = appointments_scoped(f)
    cur = {k: in_current(k, f) for k in ("created_at", "cancelled_at", "confirmed_at", "start")}
    prev = {k: in_previous(k, f) for k in cur}
    work = appts.filter(
        in_both("created_at", f) | in_both("cancelled_at", f) | in_both("confirmed_at", f)
    ).aggregate(
        **{
            f"{name}_{p}": Count("id", filter=q)
            for p, w in (("cur", cur), ("prev", prev))
            for name, q in (
                ("booked", w["created_at"] & booking_q() & in_both("created_at", f)),
                (
                    "self",
                    w["created_at"]
                    & booking_q()
                    & Q(channel=Appointment.Channel.SELF)
                    & in_both("created_at", f),
                ),
                ("changed", w["cancelled_at"] & in_both("cancelled_at", f)),
                ("confirmed", w["confirmed_at"] & in_both("confirmed_at", f)),
            )
        }
    )
    for p in ("cur", "prev"):
        work[f"auto_{p}"] = work[f"self_{p}"] + work[f"confirmed_{p}"]
        work[f"all_{p}"] = work[f"booked_{p}"] + work[f"changed_{p}"] + work[f"confirmed_{p}"]
    visits = appts.filter(in_both("start", f)).annotate(reminded=_reminded())
    seen = visits.aggregate(
        **{
            f"{name}_{p}": Count("id", filter=w["start"] & q)
            for p, w in (("cur", cur), ("prev", prev))
            for name, q in (
                ("reminded", Q(reminded=True)),
                ("confirmed", Q(reminded=True, confirmed_at__isnull=False)),
                ("ended_r", Q(reminded=True, status__in=ENDED)),
                ("noshow_r", Q(reminded=True, status=Appointment.Status.NO_SHOW)),
                ("ended_n", Q(reminded=False, status__in=ENDED)),
                ("noshow_n", Q(reminded=False, status=Appointment.Status.NO_SHOW)),
            )
        }
    )
    offers = _offers(f).filter(in_both("created_at", f))
    offered = {
        f"{name}_{p}": offers.filter(w).filter(q).values("slot_id").distinct().count()
        for p, w in (("cur", in_current("created_at", f)), ("prev", in_previous("created_at", f)))
        for name, q in (("slots", Q()), ("filled", Q(status=WaitlistOffer.Status.ACCEPTED)))
    }
    wait = ExpressionWrapper(F("answered_at") - F("created_at"), output_field=DurationField())
    taken = _offers(f).filter(status=WaitlistOffer.Status.ACCEPTED)
    ttf = [
        taken.filter(in_period("answered_at", period)).aggregate(v=Avg(wait))["v"]
        for period in (f, f.previous())
    ]
    texted = PatientMessage.objects.filter(channel=Channel.SMS)
    if f.location_id:
        texted = texted.filter(location_id=f.location_id)
    opt = {}
    for p, period in (("cur", f), ("prev", f.previous())):
        reached = texted.filter(in_period("created_at", period)).values("patient_id").distinct()
        opt[f"texted_{p}"] = reached.count()
        opt[f"stopped_{p}"] = reached.filter(
            patient__sms_opted_out_at__gte=period.start, patient__sms_opted_out_at__lt=period.end
        ).count()
    return [
        rate_metric(
            "engaged_automation",
            "Automation share (with patients' own work)",
            DEF_AUTOMATION,
            work,
            numerator="auto",
            denominator="all",
            drill="self_service_bookings",
        ),
        rate_metric(
            "confirmation",
            "Confirmation rate",
            DEF_CONFIRM,
            seen,
            numerator="confirmed",
            denominator="reminded",
            drill="text_confirmations",
        ),
        rate_metric(
            "no_show_reminded",
            "No-show rate, reminded",
            f"{DEF_NO_SHOW} reminded.",
            seen,
            numerator="noshow_r",
            denominator="ended_r",
            lower_is_better=True,
        ),
        rate_metric(
            "no_show_unreminded",
            "No-show rate, not reminded",
            f"{DEF_NO_SHOW} not reminded.",
            seen,
            numerator="noshow_n",
            denominator="ended_n",
            lower_is_better=True,
        ),
        rate_metric(
            "waitlist_fill",
            "Waitlist fill rate",
            DEF_FILL,
            offered,
            numerator="filled",
            denominator="slots",
            drill="text_offers",
        ),
        Metric(
            "time_to_fill",
            "Time to fill",
            DEF_TTF,
            "seconds",
            seconds(ttf[0]),
            seconds(ttf[1]),
            drill="text_offers",
            lower_is_better=True,
        ),
        rate_metric(
            "opt_out",
            "Opt-out rate",
            DEF_OPT_OUT,
            opt,
            numerator="stopped",
            denominator="texted",
            lower_is_better=True,
        ),
    ]


def _self_service(f: KpiFilters, _: dict[str, int]) -> QuerySet[Appointment]:
    return (
        appointments_scoped(f)
        .filter(in_period("created_at", f), booking_q(), channel=Appointment.Channel.SELF)
        .select_related("location", "provider", "appointment_type", "booked_by", "patient")
        .order_by("-created_at", "-pk")
    )


def _confirmations(f: KpiFilters, _: dict[str, int]) -> QuerySet[Appointment]:
    return (
        appointments_scoped(f)
        .filter(in_period("confirmed_at", f))
        .select_related("location", "provider", "appointment_type", "booked_by", "patient")
        .order_by("-confirmed_at", "-pk")
    )


def _text_offers(f: KpiFilters, _: dict[str, int]) -> QuerySet[WaitlistOffer]:
    return (
        _offers(f)
        .filter(in_period("created_at", f))
        .select_related("slot__location", "entry__patient", "entry__appointment_type")
        .order_by("-created_at", "-pk")
    )


def _offer_columns() -> list[Column]:
    def patient(r: Any) -> str:
        return f"{r.entry.patient.last_name}, {r.entry.patient.first_name}"

    return [
        Column("Offer", lambda r: r.pk),
        Column("Sent", lambda r: fmt_time(r.created_at, r.slot.location)),
        Column("Patient", patient, phi=True),
        Column("Visit", lambda r: r.entry.appointment_type.name),
        Column("Location", lambda r: r.slot.location.name),
        Column("Slot start", lambda r: fmt_time(r.slot.start, r.slot.location)),
        Column("Status", lambda r: r.get_status_display()),
    ]


drill_register(
    "self_service_bookings",
    Drill(
        "Bookings patients made themselves",
        "Bookings made online or by answering a waitlist text.",
        _self_service,
        APPOINTMENT_COLUMNS,
        patient_id=lambda r: r.patient_id,
    ),
)
drill_register(
    "text_confirmations",
    Drill(
        "Visits confirmed by text",
        "Appointments a patient confirmed with C in the period.",
        _confirmations,
        APPOINTMENT_COLUMNS,
        patient_id=lambda r: r.patient_id,
    ),
)
drill_register(
    "text_offers",
    Drill(
        "Waitlist offers by text",
        "Offers sent in the period and how each ended.",
        _text_offers,
        _offer_columns(),
        patient_id=lambda r: r.entry.patient_id,
    ),
)
section_register(
    Section(
        "engagement",
        "Engagement",
        35,
        lambda f: Page(metrics=engagement_metrics(f)),
        overview_metrics=engagement_metrics,
        overview_keys=frozenset({"engaged_automation", "confirmation"}),
    )
)
