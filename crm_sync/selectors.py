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


@dataclass(frozen=True)
class EntityProgress:
    entity: str
    records: int
    full_done: bool
    records_done: int
    records_total: int | None
    swept_until: datetime | None


@dataclass(frozen=True)
class SyncStatus:
    running: object | None  # SyncRun
    last_finished: object | None
    eta_seconds: float | None
    entities: list[EntityProgress]

    @property
    def summary(self) -> str:
        run = self.running or self.last_finished
        if run is None:
            return "No synchronisation has run yet."
        total = run.records_total or 0
        if self.running is not None:
            eta = f", about {int(self.eta_seconds)}s left" if self.eta_seconds else ""
            return f"{run.get_kind_display()} sync running: {run.records_done}/{total}{eta}."
        finished = f"{run.finished_at:%Y-%m-%d %H:%M}"
        return f"Last {run.get_kind_display().lower()} sync finished at {finished} UTC."


def sync_status() -> SyncStatus:
    """Where the portal's mirror stands: the running or last run and per-entity counts."""
    from crm_sync.models import SyncRun, SyncState
    from crm_sync.sync.engine import eta_seconds
    from crm_sync.sync.entities import MIRRORED

    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-created_at").first()
    last = SyncRun.objects.filter(status=SyncRun.Status.DONE).order_by("-finished_at").first()
    states = {state.entity: state for state in SyncState.objects.all()}
    entities = []
    for spec in MIRRORED:
        state = states.get(spec.key)
        entities.append(
            EntityProgress(
                entity=spec.key,
                records=spec.model.objects.count(),
                full_done=bool(state and state.full_done),
                records_done=state.records_done if state else 0,
                records_total=state.records_total if state else None,
                swept_until=state.swept_until if state else None,
            )
        )
    return SyncStatus(running, last, eta_seconds(running) if running else None, entities)


def rest_calls_search(*, query: str = "", limit: int = 200):
    """Recent REST calls, optionally only those whose method or error code contains `query`."""
    from crm_sync.models import RestCallLog

    calls = RestCallLog.objects.order_by("-created_at", "-id")
    if query:
        calls = calls.filter(Q(method__icontains=query) | Q(error_code__icontains=query))
    return list(calls[:limit])
