"""Waiting for a hold to land in the console, for the browser journeys."""

from __future__ import annotations

from typing import Any


def hold_landed(page: Any) -> None:
    """The hold panel is drawn (its countdown) and settled: the console's script puts
    the focus in the book form once htmx has processed the new panel. A key pressed
    before then reaches the page, not the panel: Escape there releases the hold, through
    a plain form post if htmx has not yet taken the form over (seen on a loaded CI)."""
    page.wait_for_selector("#hold .countdown")
    page.wait_for_function(
        "document.activeElement && document.activeElement.closest"
        " && document.activeElement.closest('#hold .bookform') !== null"
    )
