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


def siu(
    control_id: str,
    *,
    event: str = "S12",
    external_id: str = "PMS-7001",
    hub_id: int | None = None,
    start: str = "202612011000",
    end: str = "202612011030",
    npi: str = "",
    type_code: str = "",
    mrn: str = "MRN1001",
    version: str = "2.5.1",
    last: str = "Rivera",
    first: str = "Alex",
    dob: str = "19800214",
    phone: str = "3035550142",
    middle: str = "",
) -> str:
    sch1 = f"{hub_id}^CAREHUB" if hub_id else ""
    segments = [
        f"MSH|^~\\&|DENPMS|DEN|CAREHUB|HUB|20261122093000||SIU^{event}^SIU_S12|{control_id}|P|{version}",
        f"SCH|{sch1}|{external_id}^DENPMS|||||ROUTINE|{type_code}|30|min|^^30^{start}^{end}",
        f"TQ1|1||||||{start}|{end}",
        f"PID|1||{mrn}^^^DEN-PMS^MR||{last}^{first}^{middle}||{dob}|F|||12 Elm St^^Denver^CO^80202||{phone}",
        "RGS|1",
        f"AIS|1||{type_code}",
        f"AIP|1||{npi}^Provider^Pat",
    ]
    return "\r".join(segments) + "\r"


def dft(
    control_id: str,
    *,
    appointment_id: int,
    cpt: tuple[str, ...] = ("D0150",),
    icd: tuple[str, ...] = ("K02.52",),
    mrn: str = "MRN1001",
    npi: str = "",
) -> str:
    segments = [
        f"MSH|^~\\&|DENPMS|DEN|CAREHUB|HUB|20261122093000||DFT^P03^DFT_P03|{control_id}|P|2.5.1",
        "EVN|P03|20261201113000",
        f"PID|1||{mrn}^^^DEN-PMS^MR||Rivera^Alex||19800214|F",
        "PV1|1|O" + "|" * 47 + f"|{appointment_id}^^^CAREHUB",
    ]
    for i, code in enumerate(icd, start=1):
        segments.append(f"DG1|{i}||{code}^^I10")
    for i, code in enumerate(cpt, start=1):
        segments.append(
            f"FT1|{i}|T{i}||20261201100000||CG|{code}|||1|||||||||{icd[0]}|{npi}|||||{code}^^CPT"
        )
    return "\r".join(segments) + "\r"
