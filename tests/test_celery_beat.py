"""Beat names tasks by string: a task moved or renamed without its schedule entry would
silently never run."""

from __future__ import annotations

from config.celery import app


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled - set(app.tasks) == set()
    assert "integrations.x12.tasks.claims_submit_task" in scheduled
