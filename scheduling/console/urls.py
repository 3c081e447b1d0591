"""The agent console. Every action is a POST carrying opaque ids in its body: no patient
data, and no patient id, ever appears in a console URL."""

from __future__ import annotations

from django.urls import path

from .views import booking, calls, finder, page, referrals, series, telephony, worklist

app_name = "console"
urlpatterns = [
    path("", page.console_home, name="home"),
    path("call/start/", calls.call_start, name="call_start"),
    path("call/wrap-up/", calls.call_wrap_up, name="call_wrap_up"),
    path("patients/search/", page.search, name="search"),
    path("patients/open/", page.patient_open, name="patient_open"),
    path("patients/register/", page.register, name="register"),
    path("slots/", finder.slots, name="slots"),
    path("hold/", booking.hold, name="hold"),
    path("hold/release/", booking.release, name="release"),
    path("book/", booking.book, name="book"),
    path("overbook/", booking.overbook, name="overbook"),
    path("appointments/reschedule/start/", booking.reschedule_start, name="reschedule_start"),
    path("appointments/reschedule/", booking.reschedule, name="reschedule"),
    path("appointments/cancel/", booking.cancel, name="cancel"),
    path("waitlist/add/", booking.waitlist_add, name="waitlist_add"),
    path("series/plan/", series.series_plan, name="series_plan"),
    path("series/decide/", series.series_decide, name="series_decide"),
    path("series/adjust/", series.series_adjust, name="series_adjust"),
    path("series/book/", series.series_book, name="series_book"),
    path("series/abandon/", series.series_abandon, name="series_abandon"),
    path("series/cancel/", series.series_cancel, name="series_cancel"),
    path("series/move/", series.series_move, name="series_move"),
    path("shortcuts/", page.shortcuts_save, name="shortcuts"),
    path("waitlist/offer/", worklist.waitlist_offer, name="waitlist_offer"),
    path("worklist/", worklist.worklist, name="worklist"),
    path("referrals/open/", referrals.referral_open, name="referral_open"),
    path("referrals/add/", referrals.referral_add, name="referral_add"),
    path("callbacks/start/", worklist.callback_start, name="callback_start"),
    path("call/pop/", telephony.screen_pop, name="screen_pop"),
    path("presence/", telephony.presence, name="presence"),
]
