"""Reads of the analytics app: figures computed from other apps' selectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from crm_sync.selectors import MethodUsage, rest_usage_by_method


@dataclass(frozen=True)
class RestUsage:
    since: datetime
    until: datetime
    total_calls: int
    methods: list[MethodUsage]


def rest_usage(*, days: int, now: datetime | None = None) -> RestUsage:
    """How much of Bitrix24's REST budget the portal used, per method, over the last `days`."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    methods = rest_usage_by_method(since=since, until=until)
    return RestUsage(since, until, sum(m.calls for m in methods), methods)
