"""Broken envelopes are refused with the reason, whatever the transaction (integrations/x12/core.py)."""

from __future__ import annotations

import pytest

from integrations.x12 import core
from integrations.x12.core import X12Error
from integrations.x12.eligibility import parse_271
from integrations.x12.remittance import parse_835
from tests.integrations.x12.samples import DELTA_STYLE, PAID_AND_DENIED, wrap


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda raw: raw[: len(raw) // 2], core.ERR_NO_SE.split("{")[0]),
        (lambda raw: raw.replace("SE*", "SE*9", 1), "SE01 says"),
        (lambda raw: raw.replace("GE*1*", "GE*2*", 1), "GE01 says 2"),
        (lambda raw: raw.replace("IEA*1*000000007", "IEA*1*000000008"), "IEA02"),
        (lambda raw: raw.split("IEA")[0], core.ERR_NO_IEA),
        (lambda raw: raw[:60], core.ERR_SHORT_ISA),
        (lambda raw: "", core.ERR_EMPTY),
        (lambda raw: "hello world", core.ERR_NO_ISA),
    ],
)
def test_malformed_files_are_refused_with_the_reason(mangle, error):
    raw = mangle(wrap("835", PAID_AND_DENIED))
    with pytest.raises(X12Error) as exc:
        parse_835(raw)
    assert error in str(exc.value)
    with pytest.raises(X12Error):
        parse_271(mangle(wrap("271", DELTA_STYLE)))
