"""Patient events other apps react to without patients importing them.

Sent from inside the service's transaction: receivers write their rows (integrations'
outbox, scheduling's and billing's re-pointed rows on a merge) in that same transaction,
so they exist if and only if the change commits.

``origin_connector_id`` names the connector whose system sent the change (a location's
ADT or FHIR Patient), None when the hub made it: a change must not be echoed back to
the system it came from. ``location_id`` is the location whose systems should hear it.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: patient (patients.Patient), location_id (int | None), origin_connector_id
# (int | None)
patient_created = Signal()

# kwargs: patient (patients.Patient), location_id (int | None), origin_connector_id
# (int | None). Demographics changed.
patient_updated = Signal()

# kwargs: changes (list[tuple[str, patients.Patient, int | None, int | None]]): each
# "created" or "updated" with the patient, its location id and origin connector id, in
# arrival order. Sent once by patient_upsert_batch INSTEAD of one patient_created or
# patient_updated per record, so receivers can answer the batch set-based.
patients_upserted = Signal()

# kwargs: survivor_id (int), merged_id (int), location_id (the survivor's home location,
# int | None), origin_connector_id (int | None). Receivers that own rows pointing at
# the merged patient re-point them to the survivor and RETURN the moved ids as
# {snapshot key: [ids]}; the merge keeps them so an unmerge can move exactly those back.
patient_merged = Signal()

# kwargs: survivor_id (int), merged_id (int), merge_id (int), location_id (the revived
# patient's home location, int | None), snapshot (dict[str, list[int]], what the merge's
# receivers returned). Receivers move the listed rows back to merged_id.
patient_unmerged = Signal()


def bulk_receivers_ready() -> bool:
    """Whether every receiver of the one-record signals also hears ``patients_upserted``;
    while not, ``patient_upsert_batch`` declines and records are applied one by one."""
    return max(len(patient_created.receivers), len(patient_updated.receivers)) <= len(
        patients_upserted.receivers
    )
