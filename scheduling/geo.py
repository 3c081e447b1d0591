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


# What the index keeps of a row: city, state, latitude, longitude, time zone.
ZipRow = tuple[str, str, str, str, str]


@lru_cache(maxsize=1)
def _rows_by_zip() -> dict[str, ZipRow]:
    """The package's rows by ZIP, indexed once per process (about a second of CPU).

    ``zipcodes.matching`` scans all 42,000 rows, a millisecond of CPU per call, and a
    slot search meets a ZIP it has not seen before on most calls: as much as the slot
    read itself. Rows for one ZIP keep the package's order, so the first wins as before.

    Only tuples of strings are kept, from a list of rows the package does not cache
    (``list_all`` keeps its 42,000 dicts, each with three lists, for the life of the
    process): the collector stops tracking such tuples, where the rows were 170,000
    objects that every full collection walked, 56 ms against 230 ms per collection.
    """
    index: dict[str, ZipRow] = {}
    for row in zipcodes.filter_by():
        if row["zip_code"] not in index:
            index[row["zip_code"]] = (
                row["city"],
                row["state"],
                row["lat"],
                row["long"],
                row["timezone"],
            )
    return index


def zip_index_load() -> int:
    """Load the ZIP index now (a web worker does before its first request); how many."""
    return len(_rows_by_zip())


@lru_cache(maxsize=65536)
def zip_point(zip_code: str) -> ZipPoint | None:
    if not isinstance(zip_code, str):
        return None
    code = zip_code[:5]
    row = _rows_by_zip().get(code)
    if row is None:
        return None
    city, state, lat, lon, time_zone = row
    return ZipPoint(
        zip_code=code,
        city=city,
        state=state,
        latitude=float(lat),
        longitude=float(lon),
        time_zone=time_zone,
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
