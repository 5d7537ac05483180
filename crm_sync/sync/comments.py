"""Timeline comments in the mirror: events re-read them one by one, a backfill reads history.

Bitrix24 has no list of timeline comments across records: crm.timeline.comment.list answers
only with ENTITY_ID and ENTITY_TYPE in its filter, 50 comments a page, and a comment does not
move its record's DATE_MODIFY. So:

- events (ONCRMTIMELINECOMMENTADD/UPDATE/DELETE, carrying only the comment's id) are re-read
  with crm.timeline.comment.get, 50 to a batch request; a comment the portal no longer gives
  us is deleted from the mirror;
- history is read by the comments backfill, after the full export of contacts, companies and
  deals and after the details backfill: one list command per record, 50 records to a batch
  request, further pages for records with more than 50 comments. It keeps a checkpoint per
  record type (SyncState `comments_<type>`), moved with the rows it covers, so it resumes
  after the last batch it stored;
- the sweep and the id reconciliation cannot see comments (no modification date, no list):
  a comment whose event was lost is caught only when the backfill runs again (a new full sync
  resets it).

Only a comment's length is kept, not its text; Keepwarm's own timeline posts (the assistants'
"Keepwarm: … (KW-<decision id>)") are marked `keepwarm` so they never count as client contact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.models import Company, Contact, Deal, SyncRun, SyncState, TimelineComment
from crm_sync.sync.convert import to_datetime, to_int

EVENTS = ("ONCRMTIMELINECOMMENTADD", "ONCRMTIMELINECOMMENTUPDATE", "ONCRMTIMELINECOMMENTDELETE")
KEY = "timeline_comment"  # the events' pending-id set (crm_sync.services)
PAGE = 50
SELECT = ("ID", "ENTITY_ID", "ENTITY_TYPE", "CREATED", "AUTHOR_ID", "COMMENT")
TYPE_IDS = {"lead": 1, "deal": 2, "contact": 3, "company": 4}

# Keepwarm's own post (assistants.executor): "Keepwarm: <reason> (KW-<decision id>)". The marker
# ends the text and is never cut, so both ends together identify it; a manager quoting one in
# their own words does not match.
_KEEPWARM_POST = re.compile(r"^Keepwarm: .*\(KW-\d+\)$", re.DOTALL)
_MARKUP = re.compile(r"\[/?[a-zA-Z*][^\]]{0,200}\]")


@dataclass(frozen=True)
class CommentSource:
    """Records whose comment history the backfill reads, in this order."""

    entity_type: str  # ENTITY_TYPE in Bitrix24's filter
    model: type[models.Model]

    @property
    def state_key(self) -> str:
        return f"comments_{self.entity_type}"


SOURCES = (
    CommentSource("company", Company),
    CommentSource("contact", Contact),
    CommentSource("deal", Deal),
)


def comment_length(text: str) -> int:
    """Characters a person wrote: BB-code markup and surrounding blanks do not count."""
    return len(_MARKUP.sub("", text).strip())


def is_keepwarm_post(text: str) -> bool:
    return bool(_KEEPWARM_POST.match(text.strip()))


def comment_row(row: dict) -> dict | None:
    """A Bitrix24 comment → TimelineComment field values (the text itself is dropped here)."""
    comment_id = to_int(row.get("ID"))
    type_id = TYPE_IDS.get(str(row.get("ENTITY_TYPE", "")).lower())
    entity_id = to_int(row.get("ENTITY_ID"))
    if not comment_id or not type_id or not entity_id:
        return None
    text = str(row.get("COMMENT") or "")
    return {
        "id": comment_id,
        "entity_type_id": type_id,
        "entity_id": entity_id,
        "author_id": to_int(row.get("AUTHOR_ID")),
        "created_at": to_datetime(row.get("CREATED")),
        "length": comment_length(text),
        "keepwarm": is_keepwarm_post(text),
    }


def comments_upsert(rows: Iterable[dict], *, now: datetime, fresher_than: datetime | None = None):
    """Insert or update comments; with `fresher_than`, leave alone rows written after it (an
    event's re-read is newer than a backfill page asked before it). Returns rows written."""
    latest = {row["id"]: row for row in rows}
    if fresher_than is not None and latest:
        newer = TimelineComment.objects.filter(id__in=list(latest), synced_at__gte=fresher_than)
        for comment_id in newer.values_list("id", flat=True):
            latest.pop(comment_id, None)
    if not latest:
        return 0
    TimelineComment.objects.bulk_create(
        [TimelineComment(synced_at=now, **row) for row in latest.values()],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=[
            "entity_type_id",
            "entity_id",
            "author_id",
            "created_at",
            "length",
            "keepwarm",
            "synced_at",
        ],
        batch_size=5000,
    )
    return len(latest)


# --- events ------------------------------------------------------------------------------------


def comments_refresh(client: BitrixClient, ids: Iterable[int]) -> tuple[int, int]:
    """Re-read comments named by events (crm.timeline.comment.get, 50 to a batch request):
    upsert those the portal still gives us, delete the others. A retryable error fails the
    whole read, so the flush keeps the ids for its next round."""
    ids = sorted(set(ids))
    found: list[dict] = []
    gone: list[int] = []
    for start in range(0, len(ids), MAX_BATCH):
        chunk = ids[start : start + MAX_BATCH]
        answer = client.batch({f"c{i}": ("crm.timeline.comment.get", {"id": i}) for i in chunk})
        for comment_id in chunk:
            error = answer.errors.get(f"c{comment_id}")
            if error is not None and error.retryable:
                raise error
            row = None if error else answer.results.get(f"c{comment_id}")
            converted = comment_row(row) if isinstance(row, dict) else None
            if converted is None:
                gone.append(comment_id)
            else:
                found.append(converted)
    with transaction.atomic():
        written = comments_upsert(found, now=timezone.now())
        deleted, _ = TimelineComment.objects.filter(id__in=gone).delete()
    return written, deleted


# --- history: the comments backfill ------------------------------------------------------------


@dataclass
class CommentsBackfillResult:
    records: int = 0  # CRM records whose comments were read
    comments: int = 0
    requests: int = 0
    done: bool = False


def _list_command(source: CommentSource, record_id: int, start: int) -> tuple[str, dict]:
    return (
        "crm.timeline.comment.list",
        {
            "filter": {"ENTITY_ID": record_id, "ENTITY_TYPE": source.entity_type},
            "select": list(SELECT),
            "order": {"ID": "ASC"},
            "start": start,
        },
    )


def _rows(result: Any) -> list[dict]:
    if isinstance(result, dict):
        result = list(result.values())
    return [row for row in (result or []) if isinstance(row, dict)]


def _history_read(
    client: BitrixClient, source: CommentSource, ids: list[int]
) -> tuple[dict[int, list[dict]], set[int]]:
    """Every comment of these records: first pages in one batch request, then the further
    pages of records with more than 50 comments, 50 pages to a request. Returns the rows by
    record and the records the portal refused (deleted or hidden meanwhile: left as they are)."""
    prefix = source.entity_type
    answer = client.batch({f"{prefix}_{i}": _list_command(source, i, 0) for i in ids})
    rows: dict[int, list[dict]] = {}
    refused: set[int] = set()
    more: list[tuple[int, int]] = []
    for record_id in ids:
        key = f"{prefix}_{record_id}"
        error = answer.errors.get(key)
        if error is not None:
            if error.retryable:
                raise error
            refused.add(record_id)
            continue
        rows[record_id] = _rows(answer.results.get(key))
        total = answer.totals.get(key) or 0
        more.extend((record_id, start) for start in range(PAGE, total, PAGE))
    for index in range(0, len(more), MAX_BATCH):
        chunk = more[index : index + MAX_BATCH]
        page = client.batch(
            {f"{prefix}_{i}_{start}": _list_command(source, i, start) for i, start in chunk}
        )
        for record_id, start in chunk:
            key = f"{prefix}_{record_id}_{start}"
            error = page.errors.get(key)
            if error is not None:
                if error.retryable:
                    raise error
                refused.add(record_id)
                continue
            rows.setdefault(record_id, []).extend(_rows(page.results.get(key)))
    for record_id in refused:
        rows.pop(record_id, None)
    return rows, refused


def _history_store(
    source: CommentSource,
    ids: list[int],
    rows: dict[int, list[dict]],
    asked_at: datetime,
    state_pk: int,
    after_id: int,
) -> int | None:
    """Store one batch's comments and move the checkpoint past it, together. A record's
    comments the portal no longer lists are deleted, unless an event wrote them after the
    batch was asked. None: the checkpoint was reset meanwhile (a new full sync), nothing kept."""
    type_id = TYPE_IDS[source.entity_type]
    converted = [c for c in (comment_row(r) for rs in rows.values() for r in rs) if c]
    with transaction.atomic():
        written = comments_upsert(converted, now=timezone.now(), fresher_than=asked_at)
        TimelineComment.objects.filter(
            entity_type_id=type_id, entity_id__in=list(rows), synced_at__lt=asked_at
        ).exclude(id__in=[c["id"] for c in converted]).delete()
        # Only from where this batch began: a reset meanwhile (a new full sync) wins.
        moved = SyncState.objects.filter(
            pk=state_pk, details_done=False, details_after_id=after_id
        ).update(details_after_id=ids[-1])
        if not moved:
            transaction.set_rollback(True)
            return None
    return written


def comments_backfill(
    client: BitrixClient,
    *,
    max_requests: int | None = None,
    per_request: int = MAX_BATCH,
    should_yield: Callable[[], bool] | None = None,
) -> CommentsBackfillResult:
    """Read the comment history of every mirrored company, contact and deal, `per_request`
    records to a batch request, until done, out of `max_requests` or told to yield (an event
    flush waits); a record type starts once its full export is done. Safe to stop anywhere."""
    result = CommentsBackfillResult()
    started = client.requests_sent
    parents = {state.entity: state for state in SyncState.objects.all()}
    for source in SOURCES:
        parent = parents.get(source.entity_type)
        if parent is None or not parent.full_done:
            continue
        state, _ = SyncState.objects.get_or_create(entity=source.state_key)
        if state.details_done:
            continue
        after_id = state.details_after_id
        size = max(1, min(per_request, MAX_BATCH))
        while True:
            out_of_budget = (
                max_requests is not None and client.requests_sent - started >= max_requests
            )
            if out_of_budget or (should_yield is not None and should_yield()):
                result.requests = client.requests_sent - started
                return result
            ids = list(
                source.model.objects.filter(id__gt=after_id)
                .order_by("id")
                .values_list("id", flat=True)[:size]
            )
            if not ids:
                SyncState.objects.filter(pk=state.pk).update(
                    details_done=True, details_finished_at=timezone.now()
                )
                break
            asked_at = timezone.now()
            rows, _ = _history_read(client, source, ids)
            written = _history_store(source, ids, rows, asked_at, state.pk, after_id)
            if written is None:
                break
            result.records += len(ids)
            result.comments += written
            after_id = ids[-1]
    result.requests = client.requests_sent - started
    result.done = not comments_backfill_pending(including_unsynced=True)
    return result


def comments_remaining() -> dict[str, int | None]:
    """Records whose comments are still to be read, per record type (None: not started)."""
    states = {state.entity: state for state in SyncState.objects.all()}
    remaining: dict[str, int | None] = {}
    for source in SOURCES:
        state = states.get(source.state_key)
        if state is None:
            remaining[source.entity_type] = None
        elif state.details_done:
            remaining[source.entity_type] = 0
        else:
            remaining[source.entity_type] = source.model.objects.filter(
                id__gt=state.details_after_id
            ).count()
    return remaining


def comments_backfill_pending(*, including_unsynced: bool = False) -> bool:
    """Whether the backfill has work (one or two queries, no request to the portal); record
    types whose full export is not done count only `including_unsynced`."""
    states = {state.entity: state for state in SyncState.objects.all()}
    for source in SOURCES:
        parent = states.get(source.entity_type)
        if not including_unsynced and (parent is None or not parent.full_done):
            continue
        own = states.get(source.state_key)
        if own is None or not own.details_done:
            return True
    return False


def comments_backfill_reset() -> None:
    """Read every record's comments again (after a new full export: history may have moved)."""
    SyncState.objects.filter(entity__in=[source.state_key for source in SOURCES]).update(
        details_after_id=0, details_done=False, details_finished_at=None
    )


def comments_backfill_job(portal) -> str:
    """Periodic job (tenants.jobs): a bounded slice, after the full sync and the details
    backfill (they make the mirror usable at all; comments only refine "last contact")."""
    from django.conf import settings

    from crm_sync.services import events_flush_waiting
    from crm_sync.sync.backfill import details_backfill_pending

    if not comments_backfill_pending():
        return "done"
    if SyncRun.objects.filter(
        kind=SyncRun.Kind.FULL, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    ).exists():
        return "full_sync_running"
    if details_backfill_pending():
        return "details_first"
    client = BitrixClient.for_portal(portal)
    result = comments_backfill(
        client,
        max_requests=settings.KEEPWARM_BACKFILL_REQUESTS_PER_RUN,
        should_yield=lambda: events_flush_waiting(portal_id=portal.pk),
    )
    return f"comments:{result.records}"
