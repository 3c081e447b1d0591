"""Offline US ZIP geography (the zipcodes package ships the data; no network)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import zipcodes

EARTH_RADIUS_MILES = 3958.8


@dataclass(frozen=True)
class ZipPoint:
    zip_code: str
    city: str
    state: str
    latitude: float
    longitude: float
    time_zone: str


@lru_cache(maxsize=65536)
def zip_point(zip_code: str) -> ZipPoint | None:
    """The ZIP's first row in the package's order, None for an unknown or malformed one.

    ``zipcodes.matching`` runs in the package's compiled core: a fifth of a second to
    load its data on a process's first call, then a fraction of a millisecond. Indexing
    ``list_all()`` instead cost every new process (each gunicorn worker) 0.4 to 0.7 s of
    CPU on its first slot search, for the same rows.
    """
    if not isinstance(zip_code, str):
        return None
    try:
        rows = zipcodes.matching(zip_code[:5])
    except (TypeError, ValueError):  # not five digits: no such ZIP
        return None
    if not rows:
        return None
    row = rows[0]
    return ZipPoint(
        zip_code=row["zip_code"],
        city=row["city"],
        state=row["state"],
        latitude=float(row["lat"]),
        longitude=float(row["long"]),
        time_zone=row["timezone"],
    )


@lru_cache(maxsize=16)
def zips_in_state(state: str) -> tuple[ZipPoint, ...]:
    points = []
    for row in zipcodes.filter_by(state=state, zip_code_type="STANDARD", active=True):
        if row["lat"] and row["long"] and row["timezone"]:
            points.append(
                ZipPoint(
                    row["zip_code"],
                    row["city"],
                    row["state"],
                    float(row["lat"]),
                    float(row["long"]),
                    row["timezone"],
                )
            )
    return tuple(sorted(points, key=lambda p: p.zip_code))


def miles_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in miles."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(a))
