"""HL7 v2 messages shaped the way real registration and scheduling feeds send them.

Written for these tests from the v2.3-v2.8 chapters 2 and 3 and from the habits of
common feeds: a Cerner-like feed (v2.3, MSH-9 without a structure, an assigning
authority with a space, Latin-1, trailing empty fields, a Z-segment), an Epic-like one
(v2.5.1, MSH-8 security, MSH-15/16 accept-ack fields, PD1/NK1/ZPD, repeated PID-3 and
PID-13) and a Meditech-like one (v2.4, LF line ends). The people are invented.
"""

from __future__ import annotations

# The senders, as (MSH-3, MSH-4, the authority its PID-3 identifiers carry).
CERNER = ("HNAM", "TEC", "TEC MRN")
EPIC = ("EPIC", "EPICADT", "EPI")
MEDITECH = ("MEDITECH", "MTFAC", "MTMRN")


def cerner_a04(control_id: str, *, mrn: str = "700123", last: str = "Muñoz") -> str:
    """v2.3 as many Cerner Millennium interfaces send it: no MSH-9.3, an 8859/1 MSH-18,
    trailing separators, a PID-3 authority with a space, and a site Z-segment."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HNAM|TEC|CAREHUB|HUB|20261122093000||ADT^A04|{control_id}|P|2.3||||||8859/1",
                "EVN|A04|20261122093000|||JSMITH^Smith^Jane",
                f"PID|1||{mrn}^^^TEC MRN^MRN~99887766^^^TEC CMRN^CMRN||{last}^José^A^^^^L||"
                "19750306|M|||5 Cedar Ave^Apt 2^Denver^CO^80203^USA^H||(303)555-0101^PRN^PH|||"
                "M|||||||||||||||",
                "PV1|1|O|DEN^^^TEC||||||||||||||||||||||||||||||||||||||||||||||",
                "ZPI|1|Portal enrolled|Y",
            ]
        )
        + "\r"
    )


def epic_a08(control_id: str, *, mrn: str = "E5550001", version: str = "2.5.1") -> str:
    """An Epic-style update: MSH-8 security, accept/application ack (MSH-15/16), PID-3
    repeating, PID-13 repeating with an email, escape sequences in a name."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|EPIC|EPICADT|CAREHUB|HUB|20261122093000|ADTUSER|ADT^A08^ADT_A01|{control_id}|P|{version}|||AL|NE",
                "EVN|A08|20261122093000|||ADTUSER^ADT^USER^^^^^^EPIC",
                f"PID|1||{mrn}^^^EPI^MR~123-45-6789^^^SSA^SS||O\\S\\Neil^Mary^K^^^^L||19880229|F|||"
                "77 Pine Rd^^Aurora^CO^80010^USA^P||(720)555-0188^PRN^PH~^NET^Internet^mary@example.org||EN",
                "PD1|||DENVER DENTAL^^10",
                "NK1|1|O'Neil^Sam|SPO^Spouse",
                "PV1|1|O|AUR^^^EPI",
                "ZPD|Y|N",
            ]
        )
        + "\r"
    )


def meditech_a04(control_id: str, *, mrn: str = "M000451") -> str:
    """v2.4 with LF line ends, as some file-based Meditech exports write them."""
    return (
        "\n".join(
            [
                f"MSH|^~\\&|MEDITECH|MTFAC|CAREHUB|HUB|20261122093000||ADT^A04^ADT_A01|{control_id}|P|2.4",
                "EVN|A04|20261122093000",
                f"PID|1||{mrn}^^^MTMRN^MR||Nguyen^Lan||19921111|F|||9 Oak St^^Boulder^CO^80301||3035550177",
                "PV1|1|O",
            ]
        )
        + "\n"
    )


def a04(
    control_id: str,
    *,
    version: str = "2.5.1",
    processing_id: str = "P",
    mrn: str = "R100",
    last: str = "Rivera",
    first: str = "Alex",
    phone_field: int = 13,
    dob: str = "19800214",
    sender: tuple[str, str, str] = EPIC,
    timestamp: str = "20261122093000",
) -> str:
    """A minimal registration in any version; ``phone_field`` 40 puts the phone where
    2.7+ prefers it (PID-40, patient telecommunication information)."""
    app, facility, authority = sender
    pid = [
        "PID",
        "1",
        "",
        f"{mrn}^^^{authority}^MR",
        "",
        f"{last}^{first}",
        "",
        dob,
        "F",
    ]
    pid += [""] * (phone_field - len(pid) + 1)
    phone = f"555{int(dob) % 10000:04d}"
    pid[phone_field] = f"^PRN^PH^^^303^{phone}" if phone_field == 40 else f"(303){phone}"
    return (
        "\r".join(
            [
                f"MSH|^~\\&|{app}|{facility}|CAREHUB|HUB|{timestamp}||ADT^A04^ADT_A01|{control_id}|{processing_id}|{version}",
                f"EVN|A04|{timestamp}",
                "|".join(pid),
                "PV1|1|O",
            ]
        )
        + "\r"
    )
