"""ZIP geography: the package's first row for a ZIP, nothing for an unknown or malformed
one."""

from __future__ import annotations

import zipcodes

from scheduling.geo import ZipPoint, miles_between, zip_point


def test_a_zip_reads_as_the_packages_first_row_for_it():
    first_rows: dict[str, dict] = {}
    for row in zipcodes.list_all():
        first_rows.setdefault(row["zip_code"], row)
    for code in ("80202", "85001", "10001", "96813", "00501", "99950"):
        row = first_rows[code]
        assert zip_point(code) == ZipPoint(
            code, row["city"], row["state"], float(row["lat"]), float(row["long"]), row["timezone"]
        )
    denver = zip_point("80202")
    assert denver is not None and denver.time_zone == "America/Denver"
    assert zip_point("80202-1234") == denver


def test_unknown_and_malformed_zips_have_no_point():
    for code in ("00000", "99999", "8020", "802O2", "", "abcde"):
        assert zip_point(code) is None
    assert zip_point(None) is None


def test_miles_between_two_known_points():
    denver, phoenix = zip_point("80202"), zip_point("85001")
    assert denver and phoenix
    assert (
        580
        < miles_between(denver.latitude, denver.longitude, phoenix.latitude, phoenix.longitude)
        < 600
    )
