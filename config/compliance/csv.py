"""The accounting's CSV cells: text through the one formula neutraliser
(``config.csv_export``), so this export and the KPI ones defuse the same way."""

from __future__ import annotations

from config.csv_export import neutralise


def csv_cell(value: object) -> str:
    return neutralise("" if value is None else str(value))
