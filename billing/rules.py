"""The default diagnosis-procedure pairing table (CDT families -> supporting ICD-10-CM).

Data, not code: installed into ``DiagnosisProcedureRule`` where admins edit it. The
prefixes follow the CDT categories (D1 preventive, D2 restorative, D3 endodontics...)
and the ICD-10-CM chapters a payer expects behind them.
"""

from __future__ import annotations

from .models import DiagnosisProcedureRule

DEFAULT_RULES: list[tuple[str, list[str], str]] = [
    (
        "D1",
        ["Z01", "Z00", "Z29", "K03", "K05", "K02"],
        "preventive care needs an exam or a finding",
    ),
    ("D2", ["K02", "K03", "K08", "S025"], "restorations need caries, wear, or a fracture"),
    ("D3", ["K04", "K02", "S025"], "endodontics needs pulp or periapical disease"),
    ("D4", ["K05", "K06"], "periodontics needs gingival or periodontal disease"),
    ("D5", ["K08"], "removable prosthetics need tooth loss"),
    ("D6", ["K08", "M26"], "implants need tooth loss"),
    (
        "D7",
        ["K00", "K01", "K02", "K04", "K05", "K08", "K09", "S025"],
        "surgery needs a dental finding",
    ),
    ("D8", ["M26"], "orthodontics needs a dentofacial anomaly"),
    (
        "D92",
        ["K00", "K01", "K02", "K04", "K05", "K08", "F41", "F40"],
        "sedation needs a procedure-related finding or anxiety",
    ),
]


def rules_install_defaults() -> int:
    """Create the default rules that are missing; never overwrite an admin's edits."""
    created = 0
    for prefix, dx, why in DEFAULT_RULES:
        _, was_created = DiagnosisProcedureRule.objects.get_or_create(
            procedure_prefix=prefix, defaults={"diagnosis_prefixes": dx, "description": why}
        )
        created += was_created
    return created
