from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

from config.settings import settings_module

# A worker started on its own follows HUB_ENV like the web server (production unless
# development is asked for); manage.py and pytest have set the module before this runs.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # A task is acknowledged only after it finishes, and a worker that dies mid-task puts
    # it back: tasks are idempotent, so running one twice is safe, losing one is not.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=300,
    task_time_limit=360,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    beat_schedule={
        "slots-materialize-horizon": {
            "task": "scheduling.tasks.slots_materialize_task",
            "schedule": crontab(minute=15, hour=2),
        },
        "holds-expire-stale": {
            "task": "scheduling.tasks.hold_expire_stale_task",
            "schedule": 30.0,
        },
        "calls-abandon-stale": {
            "task": "scheduling.tasks.calls_abandon_stale_task",
            "schedule": 300.0,
        },
        "engagement-reminders": {
            "task": "scheduling.tasks.reminders_run_task",
            "schedule": 300.0,
        },
        "engagement-waitlist-offers": {
            "task": "scheduling.tasks.waitlist_offers_task",
            "schedule": 30.0,
        },
        # --- integrations: the relay is also kicked on every outbox commit;
        # beat catches what a lost kick or a retry backoff leaves behind. ---
        "integrations-outbox-relay": {
            "task": "integrations.tasks.outbox_relay_task",
            "schedule": 10.0,
        },
        "integrations-inbound-sweep": {
            "task": "integrations.tasks.inbound_sweep_task",
            "schedule": 15.0,
        },
        "integrations-fhir-poll": {
            "task": "integrations.tasks.fhir_poll_task",
            "schedule": 60.0,
        },
        "integrations-sandbox-tick": {
            "task": "integrations.tasks.sandbox_tick_task",
            "schedule": 60.0,
        },
    },
)
# Revenue cycle: nightly eligibility for the coming days, clean claims out
# every hour, clearinghouse inboxes (271, 999, 277CA, 835) picked up every few minutes.
app.conf.beat_schedule.update(
    {
        "clearinghouse-eligibility-batch": {
            "task": "integrations.x12.tasks.eligibility_batch_task",
            "schedule": crontab(minute=30, hour=1),
        },
        "clearinghouse-claims-submit": {
            "task": "integrations.x12.tasks.claims_submit_task",
            "schedule": crontab(minute=5),
        },
        "clearinghouse-collect": {
            "task": "integrations.x12.tasks.clearinghouse_collect_task",
            "schedule": 300.0,
        },
    }
)
# The audit chain is walked every night; a break shows on integration health. Entries
# are sealed into it after commits (at most once a second per process); this task seals
# the rest, and what a crash between a commit and its seal left.
app.conf.beat_schedule["audit-verify-nightly"] = {
    "task": "config.tasks.audit_verify_task",
    "schedule": crontab(minute=45, hour=3),
}
app.conf.beat_schedule["audit-seal"] = {
    "task": "config.tasks.audit_seal_task",
    "schedule": 10.0,
}
app.autodiscover_tasks()
