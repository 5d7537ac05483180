"""The base class of every task that touches a portal's data.

A task gets `portal_id` (and the ids of what it works on) as keyword arguments, never a model or
a schema name captured at send time. Before running, the base class loads the portal from the
public schema, switches the connection to that portal's schema and asserts the switch; afterwards
it switches back to public. A task for portal A therefore cannot run in portal B's schema, whatever
schema the worker's connection happened to be in.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import connection

logger = logging.getLogger(__name__)


class TaskInputError(ValueError):
    """The message is malformed; retrying it cannot help."""


class PortalTask(DjangoTask):
    acks_late = True
    reject_on_worker_lost = True
    # Most work is pointless for a portal that is not installed any more; lifecycle tasks
    # (uninstall cleanup) opt in to run anyway.
    run_for_inactive_portals = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from tenants.models import Portal

        if args:
            raise TaskInputError(f"{self.name} takes keyword arguments only")
        portal_id = kwargs.get("portal_id")
        if not isinstance(portal_id, int) or isinstance(portal_id, bool) or portal_id <= 0:
            raise TaskInputError(f"{self.name} needs a positive integer portal_id")
        connection.set_schema_to_public()
        portal = Portal.objects.filter(pk=portal_id).first()
        if portal is None:
            logger.warning("task for a deleted portal dropped", extra=self._log(portal_id))
            return None
        if not portal.is_active and not self.run_for_inactive_portals:
            logger.info("task for an inactive portal skipped", extra=self._log(portal_id))
            return None
        connection.set_tenant(portal)
        if connection.schema_name != portal.schema_name:  # pragma: no cover - a broken backend
            raise RuntimeError(f"{self.name}: connection is not in portal {portal_id}'s schema")
        try:
            return super().__call__(*args, **kwargs)
        finally:
            connection.set_schema_to_public()

    def _log(self, portal_id: int) -> dict:
        return {"task": self.name, "portal_id": portal_id, "task_id": self.request.id}


def portal_task(*args: Any, **options: Any):
    """`@portal_task(name=...)`: a shared task on PortalTask with late acks."""
    options.setdefault("base", PortalTask)
    return shared_task(*args, **options)


def current_portal():
    """The portal whose schema the current task runs in (set by PortalTask)."""
    return connection.tenant
