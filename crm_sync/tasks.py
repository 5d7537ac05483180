"""Celery tasks of the CRM sync app: thin wrappers around crm_sync.services."""

from __future__ import annotations

import time

from crm_sync.bitrix.errors import BitrixError, BitrixOperationLimit, BitrixPortalDisconnected
from crm_sync.models import SyncRun
from crm_sync.services import events_flush_run
from crm_sync.services import sync_run_execute as sync_run_execute_service
from tenants.celery import current_portal, portal_task


def _retry_later(task, exc: BitrixError):
    if isinstance(exc, BitrixOperationLimit) and exc.reset_at:
        countdown = max(5, int(exc.reset_at - time.time()) + 1)
    else:
        countdown = min(600, 15 * 2**task.request.retries)
    raise task.retry(exc=exc, countdown=countdown)


@portal_task(name="crm_sync.sync_run_execute", bind=True, max_retries=50)
def sync_run_execute(self, *, portal_id: int, sync_run_id: int) -> str:
    run = SyncRun.objects.filter(pk=sync_run_id).first()
    if run is None:
        return "missing"
    try:
        run = sync_run_execute_service(portal=current_portal(), run=run)
    except BitrixPortalDisconnected:
        SyncRun.objects.filter(pk=sync_run_id).update(status=SyncRun.Status.FAILED)
        return "disconnected"
    except BitrixError as exc:
        if not exc.retryable:
            SyncRun.objects.filter(pk=sync_run_id).update(status=SyncRun.Status.FAILED)
            raise
        _retry_later(self, exc)
    return run.status


@portal_task(name="crm_sync.events_flush", bind=True, max_retries=20)
def events_flush(self, *, portal_id: int) -> dict:
    try:
        return events_flush_run(portal=current_portal())
    except BitrixPortalDisconnected:
        return {"disconnected": 1}
    except BitrixError as exc:
        if not exc.retryable:
            raise
        _retry_later(self, exc)
