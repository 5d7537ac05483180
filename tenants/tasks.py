"""Scheduler tick and the per-portal job runner."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from celery import shared_task
from django.db import connection
from redis.exceptions import LockError

from tenants.celery import current_portal, portal_task
from tenants.jobs import portal_job_get
from tenants.locks import portal_lock

logger = logging.getLogger(__name__)

# A job that found its portal busy is retried this soon instead of a whole interval later.
_BUSY_RETRY = timedelta(seconds=60)


@shared_task(name="tenants.scheduler_tick", acks_late=True, ignore_result=True)
def scheduler_tick() -> int:
    from tenants.services import scheduler_tick_run

    return scheduler_tick_run().enqueued


@portal_task(name="tenants.portal_job_run")
def portal_job_run(*, portal_id: int, job: str) -> str:
    """Run one periodic job for one portal under that portal's lock."""
    from tenants.services import portal_job_finish

    definition = portal_job_get(job)
    if definition is None:
        logger.error("unknown portal job", extra={"portal_id": portal_id, "job": job})
        return "unknown_job"
    lock = portal_lock(portal_id)
    if not lock.acquire():
        portal_job_finish(portal_id=portal_id, job=job, outcome="busy", retry_in=_BUSY_RETRY)
        return "busy"
    try:
        portal = current_portal()
        if portal.pk != portal_id or connection.schema_name != portal.schema_name:
            raise RuntimeError(f"job {job} is not running in portal {portal_id}'s schema")
        outcome = definition.function()(portal) or "ok"
    except Exception:
        portal_job_finish(portal_id=portal_id, job=job, outcome="failed", retry_in=_BUSY_RETRY)
        raise
    finally:
        with contextlib.suppress(LockError):  # an expired lease is already free
            lock.release()
    portal_job_finish(portal_id=portal_id, job=job, outcome=outcome, retry_in=None)
    return outcome


@shared_task(name="tenants.purge_uninstalled_portals", acks_late=True, ignore_result=True)
def purge_uninstalled_portals() -> int:
    from tenants.lifecycle import purge_uninstalled_portals as purge

    return purge()
