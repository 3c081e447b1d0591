"""One start in the console's slot list, written out in Python.

A search shows thirty-odd starts, each a hold form; as an included template each cost
more than the search that found it (a template, a CSRF field, two URL reversals and four
filters per start). ``{% slot_option o best %}`` writes the same markup with the same
filters and tags called as functions: its time in the location's zone (and the caller's,
when that reads differently), provider and location; the best few also open the list.
"""

from __future__ import annotations

import html
from typing import Any

from django import template
from django.template.defaultfilters import date, floatformat
from django.template.defaulttags import CsrfTokenNode
from django.templatetags.tz import do_timezone
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from scheduling.selectors.slot_results import SlotOption

from .hubtime import caller_time

register = template.Library()

HELD = """<li class="held">
  <div class="slot-held" data-held-slot="{}" aria-disabled="true">
    <span><strong>{}</strong>{} · {} · {}</span>
    <span class="why">{}</span>
  </div>
</li>"""

BOOKABLE = """<li class="{}">
  <form method="post" action="{}" hx-post="{}" hx-target="#hold" hx-swap="outerHTML">
    {}
    <input type="hidden" name="slot_id" value="{}">
    <input type="hidden" name="appointment_type_id" value="{}">
    <button type="submit" class="{}" data-slot="{}" title="{}">
      <span><strong>{}</strong>{} · {} · {}</span>
      <span class="why">{}score {}</span>
    </button>
  </form>
</li>"""

LONG, SHORT = "D M j, g:i A T", "g:i A T"


def _their_time(o: SlotOption, patient_zone: str | None) -> str:
    theirs = caller_time(o.start, o.time_zone, patient_zone)
    return format_html(' <span class="caller-time">(caller {})</span>', theirs) if theirs else ""


@register.simple_tag(takes_context=True)
def slot_option(context: template.Context, o: SlotOption, best: bool) -> SafeString:
    """The start as an ``<li>``: a hold button, or, when another agent holds it, a note
    with no button (holding it would only be refused, and "next slot" skips it), shown
    so the agent can tell the caller."""
    zone = context.get("patient_zone")
    local = do_timezone(o.local_start, o.time_zone)
    if o.held:
        return format_html(
            HELD,
            o.slot_id,
            date(local, LONG),
            _their_time(o, zone),
            o.provider,
            o.location,
            o.hold_note,
        )
    # Once per response, not per start.
    cache = context.render_context
    if "slot_option_hold_url" not in cache:
        cache["slot_option_hold_url"] = reverse("console:hold")
        cache["slot_option_csrf"] = CsrfTokenNode().render(context)
    url = cache["slot_option_hold_url"]
    state = context.get("state")
    finder: dict[str, Any] = getattr(state, "finder", None) or {}
    why = []
    if o.out_of_network:
        why.append(format_html('<strong class="oon">{}</strong> · ', o.network_note))
    if o.held_by_me:
        why.append(format_html("<strong>{}</strong> · ", o.hold_note))
    if o.distance_miles is not None:
        why.append(format_html("{} mi · ", floatformat(o.distance_miles, 0)))
    return format_html(
        BOOKABLE,
        ("mine" if o.held_by_me else "") + (" out-of-network" if o.out_of_network else ""),
        url,
        url,
        cache["slot_option_csrf"],
        o.slot_id,
        finder.get("appointment_type", ""),
        "slot-hold" + (" slot-mine" if o.held_by_me else "") + (" slot-best" if best else ""),
        o.slot_id,
        "; ".join(part.note for part in o.breakdown),
        date(local, LONG if best else SHORT),
        _their_time(o, zone),
        o.provider,
        o.location,
        format_html_join("", "{}", ((part,) for part in why)),
        floatformat(o.score, 2),
    )


@register.simple_tag
def excluded_items(lines: list[dict[str, Any]]) -> SafeString:
    """The ``<li>`` of each excluded location or provider: a search of a large network
    excludes hundreds, too many to write through the template loop one variable at a
    time, or through format_html one line at a time. Escaped as format_html would."""
    return mark_safe(  # noqa: S308 (every value escaped by _escape)
        "\n".join(
            f'<li class="excluded excluded-{_escape(line["kind"])}"><strong>'
            f"{_escape(line['name'])}</strong> {_escape(line['text'])}</li>"
            for line in lines
        )
    )


def _escape(value: Any) -> str:
    """django.utils.html.conditional_escape without its wrapping, for a hot loop."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))
