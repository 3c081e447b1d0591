"""HL7 v2 messages as a location PMS would send them (synthetic people only)."""

from __future__ import annotations


def adt(
    control_id: str,
    *,
    event: str = "A04",
    mrn: str = "MRN1001",
    last: str = "Rivera",
    first: str = "Alex",
    dob: str = "19800214",
    sex: str = "F",
    phone: str = "(303)555-0142",
    version: str = "2.5.1",
    app: str = "DENPMS",
    facility: str = "DEN",
    authority: str = "DEN-PMS",
) -> str:
    structure = "ADT_A01" if event in {"A04", "A08"} else "ADT_A39"
    segments = [
        f"MSH|^~\\&|{app}|{facility}|CAREHUB|HUB|20261122093000||ADT^{event}^{structure}|{control_id}|P|{version}",
        f"EVN|{event}|20261122093000",
        f"PID|1||{mrn}^^^{authority}^MR||{last}^{first}^Q||{dob}|{sex}|||12 Elm St^^Denver^CO^80202||{phone}|||||||||||||||||",
        "PV1|1|O",
    ]
    return "\r".join(segments) + "\r"


def a40(control_id: str, *, survivor_mrn: str, prior_mrn: str, **kw: str) -> str:
    message = adt(control_id, event="A40", mrn=survivor_mrn, **kw)
    lines = [line for line in message.split("\r") if line and not line.startswith("PV1")]
    lines.append(f"MRG|{prior_mrn}^^^{kw.get('authority', 'DEN-PMS')}^MR")
    return "\r".join(lines) + "\r"
