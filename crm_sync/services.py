"""Writes of the CRM sync app."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from crm_sync.models import RestCallLog


def rest_log_purge(*, now: datetime | None = None) -> int:
    """Delete REST log rows older than the retention period; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KEEPWARM_REST_LOG_RETENTION_DAYS)
    deleted, _ = RestCallLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def rest_log_purge_job(portal) -> str:
    """Periodic job (tenants.jobs): runs in the portal's schema."""
    return f"purged:{rest_log_purge()}"
