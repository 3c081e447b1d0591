"""Permission names ("app_label.codename") as constants, so a typo fails at import time.

Every ``has_perm``, ``permission_required`` and DRF permission class names a permission
through these, and so does ``config.roles.ROLE_PERMISSIONS``. The codenames themselves are
declared on the models' Meta (custom ones) or by Django (view/add/change/delete).
"""

from __future__ import annotations

# --- custom permissions ---------------------------------------------------------------
USE_CONSOLE = "scheduling.use_console"
OVERRIDE_NETWORK = "scheduling.override_network"
OVERBOOK = "scheduling.overbook"
VIEW_KPI = "scheduling.view_kpi"
MANAGE_SCHEDULE = "scheduling.manage_schedule"
ACCESS_ALL_REGIONS = "scheduling.access_all_regions"
WORK_CLAIMS = "billing.work_claims"
VIEW_RAW_MESSAGE = "integrations.view_raw_message"
VIEW_DISCLOSURES = "config.view_disclosures"

# --- patients ---------------------------------------------------------------------------
VIEW_PATIENT = "patients.view_patient"
ADD_PATIENT = "patients.add_patient"
CHANGE_PATIENT = "patients.change_patient"
VIEW_COVERAGE = "patients.view_coverage"

# --- scheduling -------------------------------------------------------------------------
VIEW_APPOINTMENT = "scheduling.view_appointment"
ADD_APPOINTMENT = "scheduling.add_appointment"
CHANGE_APPOINTMENT = "scheduling.change_appointment"
VIEW_WAITLIST = "scheduling.view_waitlist"
ADD_WAITLIST = "scheduling.add_waitlist"
VIEW_CALL = "scheduling.view_call"
ADD_CALL = "scheduling.add_call"
CHANGE_CALL = "scheduling.change_call"
VIEW_SLOT = "scheduling.view_slot"
VIEW_ACCESS_WIDEN = "scheduling.view_accesswiden"

# --- billing ----------------------------------------------------------------------------
VIEW_CLAIM = "billing.view_claim"
CHANGE_CLAIM = "billing.change_claim"
VIEW_ENCOUNTER = "billing.view_encounter"
CHANGE_CHARGE = "billing.change_charge"
CHANGE_DIAGNOSIS = "billing.change_diagnosis"
VIEW_REMITTANCE = "billing.view_remittance"
VIEW_REMITTANCE_CLAIM = "billing.view_remittanceclaim"
CHANGE_REMITTANCE_CLAIM = "billing.change_remittanceclaim"
VIEW_ELIGIBILITY_CHECK = "billing.view_eligibilitycheck"
VIEW_ELIGIBILITY_BATCH_RUN = "billing.view_eligibilitybatchrun"
VIEW_DIAGNOSIS_PROCEDURE_RULE = "billing.view_diagnosisprocedurerule"

# --- integrations -----------------------------------------------------------------------
VIEW_CONNECTOR = "integrations.view_connector"
VIEW_MESSAGE = "integrations.view_message"
