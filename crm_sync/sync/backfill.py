"""The details backfill: detail rows the first full sync does not read, read after it.

Bitrix24 has no method that lists a deal's product rows or an activity's bindings across
records, so each costs one batch command per record (50 records to a request). Reading them
during the full sync made a demo portal's first sync hundreds of requests longer; the full sync
now stores only what a record tells by itself (an activity's owner) and this reads the rest, in
record-id order from the mirror, after the entity's full export is done.

Each entity keeps its own checkpoint (SyncState.details_after_id), moved in the same transaction
as the rows of the batch it covers, so a backfill stopped anywhere resumes after the last batch
it stored: no record is read twice, none is skipped. It uses the portal's shared request bucket
like everything else and is bounded per run (`max_requests`), so a periodic job gives way to
events and sweeps between its runs.

Records created after the full sync are not its business (events and the sweep read their
details in full); a record re-read by them while a batch was on its way keeps the newer rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.models import SyncRun, SyncState
from crm_sync.sync.engine import _batched, _detail_commands
from crm_sync.sync.entities import MIRRORED, EntitySpec
from crm_sync.sync.upsert import details_replace


@dataclass
class BackfillResult:
    records: int = 0  # records whose details were stored
    requests: int = 0
    done: bool = False  # nothing is left to read (for every entity whose full export is done)


def _specs() -> list[EntitySpec]:
    return [spec for spec in MIRRORED if spec.details and not spec.small]


def _selection(spec: EntitySpec) -> Q:
    """Records at least one of whose details the backfill reads."""
    wanted = Q(pk__in=[])
    for detail in spec.details:
        if detail.backfill is None:
            return Q()
        wanted |= detail.backfill
    return wanted


def _pending(spec: EntitySpec, after_id: int):
    return spec.model.objects.filter(_selection(spec), id__gt=after_id).order_by("id")


def details_remaining() -> dict[str, int | None]:
    """Records left to the backfill per entity (None: its full export is not done yet)."""
    states = {state.entity: state for state in SyncState.objects.all()}
    remaining: dict[str, int | None] = {}
    for spec in _specs():
        state = states.get(spec.key)
        if state is None or not state.full_done:
            remaining[spec.key] = None
        elif state.details_done:
            remaining[spec.key] = 0
        else:
            remaining[spec.key] = _pending(spec, state.details_after_id).count()
    return remaining


def details_backfill(
    client: BitrixClient,
    *,
    max_requests: int | None = None,
    per_request: int = MAX_BATCH,
    should_yield: Callable[[], bool] | None = None,
) -> BackfillResult:
    """Read the details the full sync left out, one batch request (`per_request` records) at a
    time, until done, `max_requests` requests were sent or `should_yield()` says live work (an
    event flush) is waiting for the portal's requests; safe to stop and run again."""
    result = BackfillResult()
    started = client.requests_sent
    for spec in _specs():
        state, _ = SyncState.objects.get_or_create(entity=spec.key)
        if not state.full_done or state.details_done:
            continue
        per_record = len(spec.details)
        size = max(1, min(per_request, MAX_BATCH // per_record))
        after_id = state.details_after_id
        while True:
            out_of_budget = (
                max_requests is not None and client.requests_sent - started >= max_requests
            )
            if out_of_budget or (should_yield is not None and should_yield()):
                result.requests = client.requests_sent - started
                return result
            ids = list(_pending(spec, after_id).values_list("id", flat=True)[:size])
            if not ids:
                SyncState.objects.filter(pk=state.pk).update(
                    details_done=True, details_finished_at=timezone.now()
                )
                break
            asked_at = timezone.now()
            results, errors = _batched(client, _detail_commands(spec, ids))
            stored = _store(spec, ids, results, errors, asked_at, state.pk)
            if stored is None:  # a new full export began meanwhile: it starts the backfill over
                break
            result.records += stored
            after_id = ids[-1]
    result.requests = client.requests_sent - started
    result.done = not details_backfill_pending(including_unsynced=True)
    return result


def _store(
    spec: EntitySpec, ids: list[int], results, errors, asked_at, state_pk: int
) -> int | None:
    """Store one batch's rows and move the checkpoint past it, together.

    A retryable error fails the batch (nothing stored, the checkpoint stays). A record the portal
    answered with an error for (deleted, not visible to us) keeps what the mirror has: its own
    deletion arrives by event or reconciliation. A record re-read by an event or the sweep after
    the batch was asked already has newer rows and is left alone. None: the entity's full export
    was started again meanwhile (its checkpoint was reset), so nothing is stored."""
    for error in errors.values():
        if error.retryable:
            raise error
    with transaction.atomic():
        # Locked, so an event's re-read of one of them waits for this batch and writes after it.
        fresh = set(
            spec.model.objects.select_for_update()
            .filter(id__in=ids, synced_at__lt=asked_at)
            .order_by("id")
            .values_list("id", flat=True)
        )
        stored = 0
        for detail in spec.details:
            rows = {}
            for record_id in ids:
                key = f"{detail.key}_{record_id}"
                if record_id in fresh and key not in errors:
                    rows[record_id] = detail.to_rows(record_id, results.get(key))
            details_replace(detail, rows)
            stored = max(stored, len(rows))
        moved = SyncState.objects.filter(pk=state_pk, full_done=True, details_done=False).update(
            details_after_id=ids[-1]
        )
        if not moved:
            transaction.set_rollback(True)
            return None
    return stored


def details_backfill_pending(*, including_unsynced: bool = False) -> bool:
    """Whether the backfill has anything left (one query; no request to the portal); entities
    whose full export is not done yet count only `including_unsynced`."""
    pending = SyncState.objects.filter(
        entity__in=[spec.key for spec in _specs()], details_done=False
    )
    if not including_unsynced:
        pending = pending.filter(full_done=True)
    return pending.exists() or (
        including_unsynced
        and SyncState.objects.filter(entity__in=[spec.key for spec in _specs()]).count()
        < len(_specs())
    )


def details_backfill_job(portal) -> str:
    """Periodic job (tenants.jobs): a bounded slice of the backfill, never during a full sync."""
    from django.conf import settings

    if not details_backfill_pending():
        return "done"
    if SyncRun.objects.filter(
        kind=SyncRun.Kind.FULL, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    ).exists():
        return "full_sync_running"
    from crm_sync.services import events_flush_waiting

    # Events are the mirror's fast path: the backfill stops for a flush and leaves it the
    # portal's request budget and this worker process.
    client = BitrixClient.for_portal(portal)
    result = details_backfill(
        client,
        max_requests=settings.KEEPWARM_BACKFILL_REQUESTS_PER_RUN,
        should_yield=lambda: events_flush_waiting(portal_id=portal.pk),
    )
    return f"backfilled:{result.records}"
