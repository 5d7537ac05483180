"""Reads of the CRM sync app, for other apps and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from crm_sync.models import RestCallLog


@dataclass(frozen=True)
class MethodUsage:
    method: str
    calls: int
    errors: int


def rest_usage_by_method(*, since: datetime, until: datetime) -> list[MethodUsage]:
    """REST calls per method in a period, counted in one aggregate query."""
    rows = (
        RestCallLog.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("method")
        .annotate(calls=Count("id"), errors=Count("id", filter=~Q(error_code="")))
        .order_by("-calls", "method")
    )
    return [MethodUsage(row["method"], row["calls"], row["errors"]) for row in rows]
