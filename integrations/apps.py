from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import (
            audit,  # noqa: F401  (registers PHI models with auditlog)
            kpi,  # noqa: F401  (registers the integration-health KPI page)
        )
        from .ledger import connectors_changed
        from .models import Connector
        from .receivers import receivers_connect
        from .x12 import receivers  # noqa: F401  (sends eligibility checks billing requests)

        # Domain changes become outbox rows in the domain's own transaction.
        receivers_connect()

        # A new or edited connector is seen by the listener's directory at once.
        post_save.connect(connectors_changed, sender=Connector, dispatch_uid="connector_saved")
        post_delete.connect(connectors_changed, sender=Connector, dispatch_uid="connector_gone")
