from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab

from config.logs import connect_celery_signals
from config.settings import settings_module

# A worker started on its own follows HUB_ENV like the web server (production unless
# development is asked for); manage.py and pytest have set the module before this runs.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

logger = logging.getLogger(__name__)

# How long the first run of a task at its ETA keeps later copies away: longer than a
# task may run (task_time_limit), shorter than the visibility timeout, so a copy
# redelivered because its worker died still runs.
ETA_CLAIM_SECONDS = 400


class HubTask(Task):
    """Runs a task that waited for an ETA (a countdown, an autoretry) once per ETA.

    Redis keeps a task unacknowledged until it runs, and after the visibility timeout
    hands it to any worker that (re)starts, so a long countdown can reach two workers and
    run twice. The first to start a given (task id, retry) claims it in Redis; a copy
    that finds the claim returns without running. Tasks without an ETA, and the
    filesystem broker, are left as they are.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.eta and request.id and not _claim_eta_run(self, request.id, request.retries):
            logger.info("%s[%s] ran at its ETA already; copy skipped", self.name, request.id)
            return None
        return super().__call__(*args, **kwargs)


def _claim_eta_run(task: Task, task_id: str, retries: int) -> bool:
    if not str(task.app.conf.broker_url).startswith(("redis://", "rediss://")):
        return True
    try:
        with task.app.connection_for_write() as conn:
            client = conn.default_channel.client  # type: ignore[attr-defined]  # kombu Redis
            key = f"hub:eta-run:{task_id}:{retries}"
            return bool(client.set(key, "1", nx=True, ex=ETA_CLAIM_SECONDS))
    except Exception:  # cannot tell: running twice is safe (idempotent), never is not
        logger.warning("could not claim %s[%s]; running it", task.name, task_id)
        return True


app = Celery("hub", task_cls=HubTask)
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
        # Hourly: patients in quiet hours at one run are reached at a later one.
        "engagement-recall": {
            "task": "scheduling.tasks.recall_run_task",
            "schedule": 3600.0,
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
# Hub queues: overflow and callback offers are due by the clock; telephony events a
# crash left stored but unapplied are applied.
app.conf.beat_schedule["hubs-queue-sweep"] = {
    "task": "scheduling.tasks.hub_queue_sweep_task",
    "schedule": 5.0,
}
app.conf.beat_schedule["telephony-sweep"] = {
    "task": "integrations.tasks.telephony_sweep_task",
    "schedule": 30.0,
}
app.autodiscover_tasks()
connect_celery_signals()
