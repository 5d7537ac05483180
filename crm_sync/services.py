"""Writes of the CRM sync app: install bootstrap, sync runs, event intake, log retention."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg import sql

from config.errors import RateLimited
from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.models import RestCallLog, SyncRun
from crm_sync.sync import comments, engine
from crm_sync.sync.entities import BY_EVENT, BY_KEY, MIRRORED
from tenants.locks import redis_client
from tenants.selectors import EventGuard, StaleEventGuard

logger = logging.getLogger(__name__)

STATUS_FIELD = "KEEPWARM_STATUS"  # becomes UF_CRM_KEEPWARM_STATUS on contacts and companies
UNINSTALL_EVENT = "ONAPPUNINSTALL"
CARD_PLACEMENTS = ("CRM_CONTACT_DETAIL_TAB", "CRM_COMPANY_DETAIL_TAB")


# --- REST log ---------------------------------------------------------------------------------


def rest_log_purge(*, now: datetime | None = None) -> int:
    """Delete REST log rows older than the retention period; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KEEPWARM_REST_LOG_RETENTION_DAYS)
    deleted, _ = RestCallLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def rest_log_purge_job(portal) -> str:
    """Periodic job (tenants.jobs): runs in the portal's schema."""
    return f"purged:{rest_log_purge()}"


# --- install bootstrap ------------------------------------------------------------------------


def events_handler_url() -> str:
    return f"{settings.KEEPWARM_PUBLIC_URL.rstrip('/')}/b24/events/"


def app_handler_url() -> str:
    return f"{settings.KEEPWARM_PUBLIC_URL.rstrip('/')}/b24/app/"


def bound_events() -> list[str]:
    events = [event for spec in MIRRORED for event in spec.events]
    return [*events, *comments.EVENTS, UNINSTALL_EVENT]


def portal_bootstrap(*, portal, status_items: list[dict]) -> dict:
    """Bind events and card tabs and create the client-status field; safe to repeat.

    Re-installs and app updates drop Bitrix24's bindings, so this runs on every install and
    binds only what is missing.
    """
    client = BitrixClient.for_portal(portal)
    current = client.batch(
        {
            "events": ("event.get", {}),
            "placements": ("placement.get", {}),
            "contact_uf": ("crm.contact.userfield.list", {"filter": {"FIELD_NAME": _uf_name()}}),
            "company_uf": ("crm.company.userfield.list", {"filter": {"FIELD_NAME": _uf_name()}}),
        }
    )
    if current.errors:
        raise next(iter(current.errors.values()))
    handler = events_handler_url()
    have_events = {
        str(row.get("event", "")).upper()
        for row in engine._unwrap(current.results.get("events"), None)
        if row.get("handler") == handler
    }
    have_placements = {
        str(row.get("placement", "")).upper()
        for row in engine._unwrap(current.results.get("placements"), None)
    }
    commands: dict = {}
    for event in bound_events():
        if event not in have_events:
            commands[f"bind_{event}"] = ("event.bind", {"event": event, "handler": handler})
    for placement in CARD_PLACEMENTS:
        if placement not in have_placements:
            commands[f"place_{placement}"] = (
                "placement.bind",
                {
                    "PLACEMENT": placement,
                    "HANDLER": app_handler_url(),
                    "TITLE": "Keepwarm",
                    "LANG_ALL": {"ru": {"TITLE": "Keepwarm"}, "en": {"TITLE": "Keepwarm"}},
                },
            )
    for entity in ("contact", "company"):
        if not engine._unwrap(current.results.get(f"{entity}_uf"), None):
            commands[f"uf_{entity}"] = (
                f"crm.{entity}.userfield.add",
                {"fields": _status_field_definition(status_items)},
            )
    if commands:
        answer = client.batch(commands)
        if answer.errors:
            raise next(iter(answer.errors.values()))
    return {"created": sorted(commands)}


def _uf_name() -> str:
    return f"UF_CRM_{STATUS_FIELD}"


def _status_field_definition(status_items: list[dict]) -> dict:
    return {
        "FIELD_NAME": STATUS_FIELD,
        "USER_TYPE_ID": "enumeration",
        "XML_ID": STATUS_FIELD,
        "SORT": 100,
        "MULTIPLE": "N",
        "MANDATORY": "N",
        "SHOW_FILTER": "Y",
        "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": "Y",
        "EDIT_FORM_LABEL": {"ru": "Статус клиента", "en": "Client status"},
        "LIST_COLUMN_LABEL": {"ru": "Статус клиента", "en": "Client status"},
        "LIST": [
            {"VALUE": item["name"], "XML_ID": item["code"], "SORT": (index + 1) * 10}
            for index, item in enumerate(status_items)
        ],
    }


def mirror_user_fields_written(*, written: dict[tuple[int, int], dict[str, str]]) -> int:
    """Record in the mirror user-field values Keepwarm itself has just written to the portal.

    `written` maps (entity type id, record id) to {field: value}; contacts (3) and companies (4).
    The portal's update event re-reads the record later, but until it arrives (or, if it is lost,
    until the sweep) the mirror would still hold the old value, and a pass in between would take
    Keepwarm's own change for a manager's. Writing it through closes that window.
    """
    tables = {3: "crm_sync_contact", 4: "crm_sync_company"}
    updated = 0
    with connection.cursor() as cursor:
        for entity_type_id, table in tables.items():
            rows = [
                (record_id, json.dumps(fields))
                for (et, record_id), fields in written.items()
                if et == entity_type_id and fields
            ]
            if not rows:
                continue
            cursor.execute(
                sql.SQL(
                    "UPDATE {table} t SET uf = t.uf || w.fields::jsonb "
                    "FROM unnest(%s::bigint[], %s::text[]) AS w(id, fields) WHERE t.id = w.id"
                ).format(table=sql.Identifier(table)),
                [[row[0] for row in rows], [row[1] for row in rows]],
            )
            updated += cursor.rowcount
    return updated


# --- sync runs --------------------------------------------------------------------------------


def sync_run_create(*, kind: str) -> SyncRun:
    """Queue a run; the task is sent after commit."""
    from crm_sync.tasks import sync_run_execute

    run = SyncRun.objects.create(kind=kind)
    portal_id = _current_portal_id()
    transaction.on_commit(lambda: sync_run_execute.delay(portal_id=portal_id, sync_run_id=run.pk))
    return run


def _current_portal_id() -> int:
    return connection.tenant.pk


def sync_run_execute(*, portal, run: SyncRun, progress=None) -> SyncRun:
    """Carry out one run (idempotent: a redelivered full run resumes from its checkpoints).

    A run executes in one place at a time: it holds a PostgreSQL advisory lock for as long as it
    works, which the database frees by itself when a killed worker's connection drops. A second
    delivery of the same run (a resumed run whose first worker is alive after all) returns at once.
    """
    if run.status == SyncRun.Status.DONE:
        return run
    with _run_lock(portal.pk, run.pk) as acquired:
        if not acquired:
            logger.info("sync run %s of portal %s is running elsewhere", run.pk, portal.pk)
            return run
        run.refresh_from_db()
        if run.status == SyncRun.Status.DONE:
            return run
        client = BitrixClient.for_portal(portal)
        try:
            if run.kind == SyncRun.Kind.FULL:
                engine.full_sync(client, run, progress=progress)
            elif run.kind == SyncRun.Kind.SWEEP:
                engine.sweep(client, run)
                engine.reconcile(client, SyncRun.objects.create(kind=SyncRun.Kind.RECONCILE))
            elif run.kind == SyncRun.Kind.RECONCILE:
                engine.reconcile(client, run)
        except Exception as exc:
            fields = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            if run.kind != SyncRun.Kind.FULL:
                fields["requests"] = client.requests_sent
            SyncRun.objects.filter(pk=run.pk).update(**fields)
            raise
    run.refresh_from_db()
    return run


@contextmanager
def _run_lock(portal_id: int, run_id: int):
    """A session-level advisory lock on (portal, run); schemas share one database, so the key
    carries the portal id. Sync runs are the only users of two-key advisory locks here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [portal_id, run_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [portal_id, run_id])


def _run_is_alive(portal_id: int, run_id: int) -> bool:
    with _run_lock(portal_id, run_id) as acquired:
        return not acquired


def sync_runs_resume(portal) -> str:
    """Periodic job: send again every queued or running full sync that nobody is working on.

    Celery re-delivers a killed worker's task only after the broker's visibility timeout (an
    hour); this finds such a run within a minute, because its advisory lock is free.
    """
    from crm_sync.tasks import sync_run_execute as sync_run_execute_task

    quiet_since = timezone.now() - timedelta(seconds=settings.KEEPWARM_SYNC_STALL_SECONDS)
    stalled = SyncRun.objects.filter(
        kind=SyncRun.Kind.FULL, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    ).filter(Q(heartbeat_at__lt=quiet_since) | Q(heartbeat_at=None, created_at__lt=quiet_since))
    resumed = []
    for run in stalled:  # at most a handful: one full sync per portal at a time
        if _run_is_alive(portal.pk, run.pk):
            continue
        SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
        sync_run_execute_task.delay(portal_id=portal.pk, sync_run_id=run.pk)
        resumed.append(run.pk)
    return f"resumed:{len(resumed)}"


def full_sync_reset() -> None:
    """Forget the checkpoints so the next full sync reads everything again."""
    from crm_sync.models import SyncState

    SyncState.objects.update(full_done=False, full_after_id=0, records_done=0, full_started_at=None)
    comments.comments_backfill_reset()


def sweep_job(portal) -> str:
    """Periodic job: the DATE_MODIFY sweep plus id reconciliation."""
    if SyncRun.objects.filter(
        kind=SyncRun.Kind.FULL, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    ).exists():
        return "full_sync_running"
    run = SyncRun.objects.create(kind=SyncRun.Kind.SWEEP)
    sync_run_execute(portal=portal, run=run)
    return f"swept:{run.records_done}"


# --- events -----------------------------------------------------------------------------------


def _pending_key(portal_id: int, entity: str) -> str:
    return f"{settings.KEEPWARM_REDIS_NAMESPACE}:events:{portal_id}:{entity}"


def _details_key(portal_id: int, entity: str) -> str:
    """Records the flusher has re-read whose detail rows it has still to read."""
    return f"{settings.KEEPWARM_REDIS_NAMESPACE}:events-details:{portal_id}:{entity}"


def _details_since(portal_id: int) -> str:
    """When the detail reads now queued began to wait (a Unix time), see _flush_round."""
    return f"{settings.KEEPWARM_REDIS_NAMESPACE}:events-details-since:{portal_id}"


def _flush_flag(portal_id: int) -> str:
    return f"{settings.KEEPWARM_REDIS_NAMESPACE}:events-flush:{portal_id}"


def events_flush_waiting(*, portal_id: int) -> bool:
    """Is an event flush scheduled or running for the portal (background work should yield)?"""
    return bool(redis_client().exists(_flush_flag(portal_id)))


MAX_IDS_PER_FLUSH = 2500  # one batch request: 50 pages of 50 ids
# The flush flag is a lease: set by the event that schedules a flush, held (and renewed each
# round) by the flusher until nothing is pending. A killed flusher's lease runs out by itself.
FLUSH_LEASE_SECONDS = 60
# A burst's first events wait this long for more to gather before the first round.
FLUSH_SETTLE_SECONDS = 0.2
# Detail reads wait for rounds with no record pending, but in a storm of events at most this
# long: then one round reads them first.
DETAILS_MAX_WAIT_SECONDS = 10.0
# Rounds start at least this far apart: a long storm of events then costs at most the standard
# plan's sustained 2 requests/s, and the bucket's burst stays for the rest of the portal's work.
FLUSH_ROUND_SECONDS = 0.5

# Give the flush lease up only when no id is pending, in one step: an event whose ids land after
# this sees no flag and schedules a flush itself; one whose ids landed before is left for us.
_FLUSH_RELEASE_IF_IDLE = """
for index = 2, #KEYS do
  if redis.call('SCARD', KEYS[index]) > 0 then return 0 end
end
redis.call('DEL', KEYS[1])
return 1
"""


# The intake of an event verified against a process's memo (tenants.lifecycle.event_verify): the
# guard's checks and the queueing in one step. -1: the identity changed, -2: over the rate
# (nothing queued either way); 1: queued and this event's caller schedules the flush; 0: queued.
_EVENT_INTAKE_GUARDED = """
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return -1 end
local count = redis.call('INCR', KEYS[4])
if count == 1 then redis.call('EXPIRE', KEYS[4], ARGV[3]) end
if count > tonumber(ARGV[4]) then return -2 end
redis.call('SADD', KEYS[1], unpack(ARGV, 5))
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""


def events_accept(
    *, portal_id: int, event: str, ids: Iterable[int], guard: EventGuard | None = None
) -> bool:
    """Queue changed record ids for a re-read; returns False for events we do not mirror.

    Bitrix24 sends one request per changed record and waits for each answer before the next,
    so this is on the path of every event of a burst: one Redis round trip, and a task only when
    no flush is scheduled or running for the portal (that flush picks these ids up). With a
    `guard` the same round trip re-checks the event's verification (StaleEventGuard if it no
    longer holds, RateLimited over the rate; nothing is queued then).
    """
    entity = _event_entity(event)
    ids = [i for i in ids if i > 0]
    if entity is None or not ids:
        return False
    from crm_sync.tasks import events_flush

    redis = redis_client()
    pending, flag = _pending_key(portal_id, entity), _flush_flag(portal_id)
    if guard is None:
        pipe = redis.pipeline(transaction=False)
        pipe.sadd(pending, *ids)  # before the flag: see the release script
        pipe.set(flag, "1", nx=True, ex=FLUSH_LEASE_SECONDS)
        scheduled = bool(pipe.execute()[1])
    else:
        outcome = redis.register_script(_EVENT_INTAKE_GUARDED)(
            keys=[pending, flag, guard.identity_key, guard.rate_key],
            args=[
                FLUSH_LEASE_SECONDS,
                guard.identity_value,
                guard.rate_window_seconds,
                guard.rate_limit,
                *ids,
            ],
        )
        if outcome == -1:
            raise StaleEventGuard
        if outcome == -2:
            raise RateLimited("Too many events; slow down and retry later.")
        scheduled = outcome == 1
    if scheduled:
        try:
            events_flush.delay(portal_id=portal_id)
        except Exception:
            redis.delete(flag)  # no flusher is coming: let the next event try
            raise
    return True


def _event_entity(event: str) -> str | None:
    """The pending-id set an event's record goes to (None: an event we do not mirror)."""
    name = event.upper()
    if name in comments.EVENTS:
        return comments.KEY
    spec = BY_EVENT.get(name)
    return spec.key if spec else None


# Every pending-id set a flush drains: the list entities, then timeline comments.
_EVENT_KEYS = (*BY_KEY, comments.KEY)


def _pending_pop(redis, portal_id: int) -> dict[str, list[int]]:
    """Take up to one batch request's worth of pending ids, across entities, and up to one
    more request's worth of timeline comments (read one by one: 50 to a request)."""
    pending: dict[str, list[int]] = {}
    budget = MAX_IDS_PER_FLUSH
    for key in BY_KEY:
        if budget <= 0:
            break
        # Whole pages only: each entity's ids fill at most budget // 50 sub-calls.
        ids = [int(i) for i in redis.spop(_pending_key(portal_id, key), budget) or []]
        if ids:
            pending[key] = ids
            budget -= -(-len(ids) // 50) * 50
    ids = [int(i) for i in redis.spop(_pending_key(portal_id, comments.KEY), 50) or []]
    if ids:
        pending[comments.KEY] = ids
    return pending


def _details_pop(redis, portal_id: int) -> dict[str, list[int]]:
    """Take up to one batch request's worth of detail reads (a command per detail and record)."""
    pending: dict[str, list[int]] = {}
    budget = MAX_BATCH
    for key, spec in BY_KEY.items():
        if not spec.details or budget < len(spec.details):
            continue
        ids = redis.spop(_details_key(portal_id, key), budget // len(spec.details)) or []
        if ids:
            pending[key] = [int(i) for i in ids]
            budget -= len(ids) * len(spec.details)
    return pending


def _details_waiting(redis, portal_id: int) -> bool:
    pipe = redis.pipeline(transaction=False)
    for key, spec in BY_KEY.items():
        if spec.details:
            pipe.scard(_details_key(portal_id, key))
    return any(pipe.execute())


def _flush_round(redis, client: BitrixClient, portal_id: int, totals: dict) -> bool:
    """One round of the flusher, one batch request: the records events named if any are
    pending, else the detail rows of records re-read before. False: nothing was pending.

    Records come first: a record's own fields are what a change is about, and its details (one
    command per record, run one after another by the portal) would hold a burst's records back.
    Details that have waited DETAILS_MAX_WAIT_SECONDS go first once, so a long storm of events
    does not starve them.
    """
    since = redis.get(_details_since(portal_id))
    overdue = since is not None and time.time() - float(since) >= DETAILS_MAX_WAIT_SECONDS
    pending = {} if overdue else _pending_pop(redis, portal_id)
    keys, step = (_pending_key, "records") if pending else (_details_key, "details")
    if not pending:
        redis.delete(_details_since(portal_id))
        pending = _details_pop(redis, portal_id)
        if not pending:
            return False
    redis.expire(_flush_flag(portal_id), FLUSH_LEASE_SECONDS)
    try:
        if step == "records":
            records = {key: ids for key, ids in pending.items() if key != comments.KEY}
            written, deleted, with_details = (
                engine.records_refresh(client, records) if records else (0, 0, {})
            )
            if comments.KEY in pending:  # read one by one: a request of their own
                more_written, more_deleted = comments.comments_refresh(
                    client, pending[comments.KEY]
                )
                written, deleted = written + more_written, deleted + more_deleted
                totals["requests"] += 1 if records else 0
            totals["deleted"] += deleted
        else:
            written, with_details = engine.details_refresh(client, pending), {}
    except Exception:
        for key, ids in pending.items():  # keep them for the next flush (the sweep is the net)
            redis.sadd(keys(portal_id, key), *ids)
        redis.delete(_flush_flag(portal_id))  # the task is retried; new events may flush meanwhile
        raise
    for key, ids in with_details.items():
        redis.sadd(_details_key(portal_id, key), *ids)
    if with_details or (step == "details" and _details_waiting(redis, portal_id)):
        redis.set(_details_since(portal_id), str(time.time()), nx=True, ex=3600)
    totals["written" if step == "records" else "detail_rows"] += written
    totals["requests"] += 1
    return True


def events_flush_run(
    *,
    portal,
    max_rounds: int = 1000,
    settle_seconds: float = FLUSH_SETTLE_SECONDS,
    round_seconds: float = FLUSH_ROUND_SECONDS,
) -> dict:
    """Re-read every record with a pending event: upsert what exists, delete what does not;
    then re-read the detail rows of those that have them.

    One flusher per portal at a time (the flush flag, see events_accept). It works in rounds, each
    one batch request carrying everything pending (up to 2,500 ids), until nothing is pending,
    then gives the flag up. Ids that arrive during a round go into the next one, so a burst of
    1,000 events costs a handful of requests instead of one per event or two. Detail reads take
    the rounds in which no record is pending (see _flush_round).
    """
    redis = redis_client()
    flag = _flush_flag(portal.pk)
    release_if_idle = redis.register_script(_FLUSH_RELEASE_IF_IDLE)
    idle_keys = [
        flag,
        *(_pending_key(portal.pk, key) for key in _EVENT_KEYS),
        *(_details_key(portal.pk, key) for key, spec in BY_KEY.items() if spec.details),
    ]
    time.sleep(settle_seconds)
    client = BitrixClient.for_portal(portal)
    totals = {"written": 0, "deleted": 0, "detail_rows": 0, "requests": 0}
    for _ in range(max_rounds):
        started = time.monotonic()
        if not _flush_round(redis, client, portal.pk, totals):
            if release_if_idle(keys=idle_keys):
                return totals
            continue  # ids came in since the pop: another round
        time.sleep(max(0.0, round_seconds - (time.monotonic() - started)))
    from crm_sync.tasks import events_flush

    events_flush.delay(portal_id=portal.pk)  # still busy: a fresh task holds the flag from here
    return totals
