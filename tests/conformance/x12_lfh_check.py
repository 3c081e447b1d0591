"""Run by the 270/271 conformance tests inside var/x12-venv (``make x12-validator``):
LinuxForHealth x12 parses each file into its pydantic models of the 005010X279A1
implementation guide, which check loop structure, segment usage, element lengths and
code values and the guide's situational rules. It needs pydantic 1, so it cannot share
the project's environment; the tests call it as a subprocess.

Usage: python x12_lfh_check.py FILE... ; prints one JSON object per file:
{"file": ..., "ok": bool, "transactions": [ST01...], "error": "..."}.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Any

# AAA03 codes of loop 2100C (Subscriber Name) in 005010X279A1's 271. LinuxForHealth x12
# 0.57 gives 2100C the list of 2100B (Information Receiver), which lacks the subscriber
# codes a payer answers with most (75 Subscriber/Insured Not Found, 72 Invalid/Missing
# Subscriber/Insured ID, ...): the check corrects that one list before parsing.
SUBSCRIBER_REJECT_CODES = [
    "15",
    "41",
    "43",
    "45",
    "47",
    "48",
    "49",
    "51",
    "52",
    "56",
    "57",
    "58",
    "60",
    "61",
    "62",
    "63",
    "71",
    "72",
    "73",
    "74",
    "75",
    "76",
    "78",
]
SUBSCRIBER_FOLLOW_UP_CODES = ("C", "N", "R", "S", "W", "X", "Y")


def _correct_subscriber_aaa() -> None:
    from linuxforhealth.x12.v5010.segments import AaaSegment  # type: ignore[import-not-found]
    from linuxforhealth.x12.v5010.x12_271_005010X279A1 import (  # type: ignore[import-not-found]
        loops,
    )
    from pydantic.fields import ModelField  # type: ignore[import-not-found,unused-ignore]

    reject = Enum("RejectReasonCode", {f"C{c}": c for c in SUBSCRIBER_REJECT_CODES}, type=str)  # type: ignore[misc]
    follow = Enum("FollowUpActionCode", {c: c for c in SUBSCRIBER_FOLLOW_UP_CODES}, type=str)  # type: ignore[misc]
    segment: Any = type(
        "Loop2100CAaaSegment",
        (AaaSegment,),
        {"__annotations__": {"reject_reason_code": reject, "follow_up_action_code": follow}},
    )
    model = loops.Loop2100C
    old = model.__fields__["aaa_segment"]
    model.__fields__["aaa_segment"] = ModelField.infer(
        name="aaa_segment",
        value=old.field_info,
        annotation=list[segment] | None,
        class_validators=None,
        config=model.__config__,
    )


def check(path: str) -> dict[str, object]:
    """Parse one file into LinuxForHealth's models; any refusal is the verdict."""
    from linuxforhealth.x12.io import X12ModelReader  # type: ignore[import-not-found]

    transactions: list[str] = []
    try:
        with X12ModelReader(path) as reader:
            for model in reader.models():
                transactions.append(model.header.st_segment.transaction_set_identifier_code)
    except Exception as exc:  # the verdict is the point: report any refusal
        return {"file": path, "ok": False, "transactions": transactions, "error": str(exc)}
    if not transactions:
        return {"file": path, "ok": False, "transactions": [], "error": "no transaction"}
    return {"file": path, "ok": True, "transactions": transactions, "error": ""}


if __name__ == "__main__":
    _correct_subscriber_aaa()
    for name in sys.argv[1:]:
        print(json.dumps(check(name)))
