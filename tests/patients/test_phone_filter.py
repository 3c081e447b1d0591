from __future__ import annotations

import pytest

from patients.templatetags.phones import phone


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("3035550177", "(303) 555-0177"),
        ("13035550177", "(303) 555-0177"),
        ("5550177", "5550177"),  # not a full number: left alone
        ("", ""),
        (None, ""),
    ],
)
def test_phone_numbers_read_as_people_say_them(stored, shown):
    assert phone(stored) == shown
