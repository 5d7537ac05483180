"""The sync engine: full export with checkpoints, DATE_MODIFY sweep, id reconciliation, events.

All functions run inside the portal's schema (a PortalTask or a management command switched to
it) and talk to Bitrix24 only through BitrixClient. Progress is written to SyncState (per entity)
and SyncRun (per run) in the same transaction as the rows, so a worker killed at any point
resumes from the last page it committed: no duplicates (upserts) and no gaps (the checkpoint
only moves after its rows are stored).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.bitrix.errors import BitrixError
from crm_sync.bitrix.export import PAGE, export_pages
from crm_sync.models import Category, Stage, SyncRun, SyncState, UserFieldDefinition
from crm_sync.sync.convert import to_bool, to_int, to_int0, to_str
from crm_sync.sync.entities import BY_KEY, MIRRORED, DetailSpec, EntitySpec
from crm_sync.sync.upsert import (
    details_imply,
    details_replace,
    invoice_semantics_refresh,
    mirror_delete,
    mirror_delete_missing,
    mirror_upsert,
)

logger = logging.getLogger(__name__)

SWEEP_OVERLAP = timedelta(minutes=10)
UF_ENTITIES = (
    ("CRM_CONTACT", "crm.contact.userfield.list"),
    ("CRM_COMPANY", "crm.company.userfield.list"),
    ("CRM_DEAL", "crm.deal.userfield.list"),
)
ProgressCallback = Callable[[SyncRun], None]


def _prefetched(pages: Iterator[list[dict]], depth: int = 2) -> Iterator[list[dict]]:
    """Fetch the next page over HTTP while the caller stores the current one.

    One chain of pages depends only on the last id of the page before it, so the next request
    can leave as soon as a response arrives; storing in parallel keeps the portal's request
    budget (not our database) the bottleneck.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for page in pages:
                buffer.put(page)
        except BaseException as exc:
            failure.append(exc)
        finally:
            buffer.put(done)
            close_old_connections()

    thread = threading.Thread(target=produce, name="bitrix-prefetch", daemon=True)
    thread.start()
    while True:
        item = buffer.get()
        if item is done:
            break
        yield item
    thread.join()
    if failure:
        raise failure[0]


def _state(spec_key: str) -> SyncState:
    state, _ = SyncState.objects.get_or_create(entity=spec_key)
    return state


def list_small(client: BitrixClient, method: str, params: dict, *, wrapper: str | None = None):
    """Read a short list whole: the first page tells the total, one batch fetches the rest."""
    first = client.call(method, {**params, "start": 0})
    rows = _unwrap(first.result, wrapper)
    total = first.total or len(rows)
    starts = list(range(PAGE, total, PAGE))
    for chunk in range(0, len(starts), MAX_BATCH):
        commands = {
            f"s{start}": (method, {**params, "start": start})
            for start in starts[chunk : chunk + MAX_BATCH]
        }
        answer = client.batch(commands)
        for key in commands:
            if key in answer.errors:
                raise answer.errors[key]
            rows.extend(_unwrap(answer.results.get(key), wrapper))
    return rows


def _unwrap(result, wrapper: str | None) -> list[dict]:
    if wrapper and isinstance(result, dict):
        result = result.get(wrapper)
    if isinstance(result, dict):
        return list(result.values())
    return list(result or [])


# --- directories --------------------------------------------------------------------------------


def directories_sync(client: BitrixClient) -> int:
    """Pipelines, stages and user-field definitions: small, read whole every time."""
    now = timezone.now()
    answer = client.batch(
        {
            "deal_categories": ("crm.category.list", {"entityTypeId": 2}),
            "invoice_categories": ("crm.category.list", {"entityTypeId": 31}),
            "stages": ("crm.status.list", {"order": {"SORT": "ASC"}}),
            **{
                entity: (method, {"order": {"SORT": "ASC"}, "filter": {"LANG": "ru"}})
                for entity, method in UF_ENTITIES
            },
        }
    )
    if answer.errors:
        raise next(iter(answer.errors.values()))
    categories = []
    for key, entity_type in (("deal_categories", 2), ("invoice_categories", 31)):
        for row in _unwrap(answer.results.get(key), "categories"):
            categories.append(
                Category(
                    entity_type_id=entity_type,
                    category_id=to_int0(row.get("id")),
                    name=to_str(row.get("name")),
                    sort=to_int0(row.get("sort")) or 500,
                    is_default=to_bool(row.get("isDefault")),
                    synced_at=now,
                )
            )
    stages = []
    for row in _unwrap(answer.results.get("stages"), None):
        semantics = row.get("SEMANTICS") or (row.get("EXTRA") or {}).get("SEMANTICS")
        stages.append(
            Stage(
                entity_id=to_str(row.get("ENTITY_ID"), 64),
                status_id=to_str(row.get("STATUS_ID"), 64),
                name=to_str(row.get("NAME")),
                sort=to_int0(row.get("SORT")),
                category_id=to_int(row.get("CATEGORY_ID")),
                semantics={"S": "S", "F": "F", "success": "S", "failure": "F"}.get(
                    str(semantics), "P"
                ),
                synced_at=now,
            )
        )
    definitions = []
    for entity, _ in UF_ENTITIES:
        for row in _unwrap(answer.results.get(entity), None):
            label = row.get("EDIT_FORM_LABEL") or row.get("LIST_COLUMN_LABEL") or ""
            if isinstance(label, dict):
                label = label.get("ru") or label.get("en") or next(iter(label.values()), "")
            definitions.append(
                UserFieldDefinition(
                    entity=entity,
                    field_name=to_str(row.get("FIELD_NAME"), 64),
                    bitrix_id=to_int(row.get("ID")),
                    user_type_id=to_str(row.get("USER_TYPE_ID"), 64),
                    multiple=to_bool(row.get("MULTIPLE")),
                    label=to_str(label),
                    enum_items=[
                        {
                            "id": to_int(item.get("ID")),
                            "value": to_str(item.get("VALUE")),
                            "xml_id": to_str(item.get("XML_ID"), 64),
                        }
                        for item in (row.get("LIST") or [])
                    ],
                    synced_at=now,
                )
            )
    with transaction.atomic():
        Category.objects.all().delete()
        Category.objects.bulk_create(categories)
        Stage.objects.all().delete()
        Stage.objects.bulk_create(stages)
        UserFieldDefinition.objects.all().delete()
        UserFieldDefinition.objects.bulk_create(definitions)
        invoice_semantics_refresh()
    return len(categories) + len(stages) + len(definitions)


def small_entity_sync(client: BitrixClient, spec: EntitySpec) -> int:
    """Users, departments: read whole, upsert, delete what vanished."""
    params = {"sort": "ID", "order": "ASC"} if spec.method == "user.get" else {}
    if spec.method == "user.get":
        params["select"] = list(spec.select)
    rows = list_small(client, spec.method, params, wrapper=spec.wrapper)
    with transaction.atomic():
        written = mirror_upsert(spec, rows)
        ids = [int(row[spec.row_id_field]) for row in rows]
        spec.model.objects.exclude(id__in=ids).delete()
    return written


# --- details: rows read one record at a time ---------------------------------------------------

Details = dict[DetailSpec, dict[int, list[dict]]]
Command = tuple[str, dict]


def _batched(
    client: BitrixClient, commands: dict[str, Command], *, leading: dict[str, Command] | None = None
) -> tuple[dict[str, object], dict[str, BitrixError]]:
    """Send commands 50 to a batch request, `leading` ones first (they fill the first batch and
    the rest ride in its free slots); returns every command's result and error by key."""
    leading = leading or {}
    queue = list(commands.items())
    first = dict(queue[: MAX_BATCH - len(leading)])
    chunks = [{**leading, **first}] + [
        dict(queue[index : index + MAX_BATCH]) for index in range(len(first), len(queue), MAX_BATCH)
    ]
    results: dict[str, object] = {}
    errors: dict[str, BitrixError] = {}
    for chunk in chunks:
        if chunk:
            answer = client.batch(chunk)
            results.update(answer.results)
            errors.update(answer.errors)
    return results, errors


def _detail_commands(spec: EntitySpec, ids) -> dict[str, Command]:
    return {
        f"{detail.key}_{record_id}": (detail.method, {detail.param: record_id})
        for detail in spec.details
        for record_id in sorted(set(ids))
    }


def _details_found(spec: EntitySpec, ids, results: dict, errors: dict) -> Details:
    """A record the portal no longer has (or no longer shows us) has no rows; its own deletion
    arrives by event or reconciliation. A retryable error fails the whole read, so nothing is
    half-written."""
    found: Details = {}
    for detail in spec.details:
        rows: dict[int, list[dict]] = {}
        for record_id in sorted(set(ids)):
            key = f"{detail.key}_{record_id}"
            error = errors.get(key)
            if error is not None and error.retryable:
                raise error
            rows[record_id] = detail.to_rows(record_id, None if error else results.get(key))
        found[detail] = rows
    return found


def details_read(client: BitrixClient, spec: EntitySpec, rows: list[dict]) -> Details:
    """Read the detail rows (product rows, bindings) of these records, 50 records to a batch
    request: the platform has no method that lists them across records.

    A full sync does not call this: it stores the rows a record implies (DetailSpec.implied, e.g.
    an activity's owner, see details_imply) and leaves the rest to the details backfill, so the
    first sync costs what the records alone cost."""
    if not spec.details or not rows:
        return {}
    ids = sorted({int(row[spec.row_id_field]) for row in rows})
    results, errors = _batched(client, _detail_commands(spec, ids))
    return _details_found(spec, ids, results, errors)


def details_write(found: Details) -> int:
    return sum(details_replace(detail, rows) for detail, rows in found.items())


# --- full export ------------------------------------------------------------------------------


def _export(client: BitrixClient, spec: EntitySpec, *, after_id: int, filter: dict | None = None):
    return export_pages(
        client,
        spec.method,
        select=spec.select,
        filter=filter,
        id_field=spec.id_field,
        row_id_field=spec.row_id_field,
        after_id=after_id,
        wrapper=spec.wrapper,
        extra_params=spec.extra_params,
    )


def entity_totals(client: BitrixClient, specs: list[EntitySpec]) -> dict[str, int]:
    """How many records each entity has (one batch; the only COUNT queries a full sync makes)."""
    commands = {
        spec.key: (
            spec.method,
            {**spec.extra_params, "select": [spec.select[0]], "order": {spec.id_field: "ASC"}},
        )
        for spec in specs
    }
    answer = client.batch(commands)
    totals = {}
    for spec in specs:
        if spec.key in answer.errors:
            raise answer.errors[spec.key]
        totals[spec.key] = answer.totals.get(spec.key) or len(
            _unwrap(answer.results.get(spec.key), spec.wrapper)
        )
    return totals


def full_sync(client: BitrixClient, run: SyncRun, *, progress: ProgressCallback | None = None):
    """Export every mirrored entity from its checkpoint; safe to run again after any crash."""
    run.status = SyncRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.save(update_fields=["status", "started_at"])
    big = [spec for spec in MIRRORED if not spec.small]
    pending = [spec for spec in big if not _state(spec.key).full_done]
    if pending and run.records_total is None:
        totals = entity_totals(client, pending)
        done_before = sum(_state(s.key).records_done for s in pending)
        for spec in pending:
            SyncState.objects.filter(entity=spec.key).update(records_total=totals[spec.key])
        run.records_total = sum(totals.values())
        run.records_done = done_before
        run.save(update_fields=["records_total", "records_done"])
    for spec in (s for s in MIRRORED if s.small):
        small_entity_sync(client, spec)
    directories_sync(client)
    counted = 0  # requests of this attempt already added to the run
    for spec in pending:
        state = _state(spec.key)
        if state.full_started_at is None:
            # Details read before this export may be stale: the backfill reads them all again.
            SyncState.objects.filter(pk=state.pk).update(
                full_started_at=timezone.now(),
                details_after_id=0,
                details_done=False,
                details_finished_at=None,
            )
        elif state.full_after_id:
            _note_resume(run, spec.key, state.full_after_id)
        # Details are not asked for here (see details_read), so every export can prefetch.
        for rows in _prefetched(_export(client, spec, after_id=state.full_after_id)):
            ids = [int(row[spec.row_id_field]) for row in rows]
            last_id = max(ids)
            with transaction.atomic():
                written = mirror_upsert(spec, rows)
                details_imply(spec, ids)  # with the checkpoint: a resumed export has them too
                if spec.key == "invoice":
                    invoice_semantics_refresh()
                SyncState.objects.filter(pk=state.pk).update(
                    full_after_id=last_id, records_done=F("records_done") + written
                )
                SyncRun.objects.filter(pk=run.pk).update(
                    records_done=F("records_done") + written,
                    requests=F("requests") + client.requests_sent - counted,
                    heartbeat_at=timezone.now(),
                )
                counted = client.requests_sent
            if progress:
                run.refresh_from_db()
                progress(run)
        state.refresh_from_db()
        SyncState.objects.filter(pk=state.pk).update(
            full_done=True,
            full_finished_at=timezone.now(),
            swept_until=state.full_started_at or run.started_at,
        )
    _finish(run, client)


def _note_resume(run: SyncRun, entity: str, after_id: int) -> None:
    """Record where an interrupted full sync picked up again (shown in the admin and the API)."""
    run.refresh_from_db(fields=["detail"])
    resumes = list(run.detail.get("resumed_from", []))
    resumes.append({"entity": entity, "after_id": after_id, "at": timezone.now().isoformat()})
    SyncRun.objects.filter(pk=run.pk).update(detail={**run.detail, "resumed_from": resumes})


def _finish(run: SyncRun, client: BitrixClient) -> None:
    fields = {"status": SyncRun.Status.DONE, "finished_at": timezone.now()}
    if run.kind != SyncRun.Kind.FULL:  # a full run adds its requests batch by batch, across resumes
        fields["requests"] = client.requests_sent
    SyncRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()


# --- incremental --------------------------------------------------------------------------------


def sweep(client: BitrixClient, run: SyncRun, *, now: datetime | None = None) -> int:
    """Re-read everything modified since each entity's watermark (minus an overlap window)."""
    now = now or timezone.now()
    run.status = SyncRun.Status.RUNNING
    run.started_at = now
    run.save(update_fields=["status", "started_at"])
    written = 0
    for spec in (s for s in MIRRORED if s.small):
        written += small_entity_sync(client, spec)
    directories_sync(client)
    for spec in MIRRORED:
        if spec.small or spec.modified_field is None:
            continue
        state = _state(spec.key)
        since = (state.swept_until or now - timedelta(days=3650)) - SWEEP_OVERLAP
        flt = {f">={spec.modified_field}": since.isoformat()}
        for rows in _export(client, spec, after_id=0, filter=flt):
            details = details_read(client, spec, rows)
            with transaction.atomic():
                written += mirror_upsert(spec, rows)
                details_write(details)
                if spec.key == "invoice":
                    invoice_semantics_refresh()
        SyncState.objects.filter(pk=state.pk).update(swept_until=now)
    SyncRun.objects.filter(pk=run.pk).update(records_done=written)
    _finish(run, client)
    return written


def reconcile(client: BitrixClient, run: SyncRun, *, specs: list[EntitySpec] | None = None) -> int:
    """Export ids only and delete mirror rows the portal no longer has."""
    started = timezone.now()
    run.status = SyncRun.Status.RUNNING
    run.started_at = started
    run.save(update_fields=["status", "started_at"])
    removed = 0
    for spec in specs or [s for s in MIRRORED if not s.small]:
        remote: list[int] = []
        id_only = EntitySpec(
            key=spec.key,
            model=spec.model,
            method=spec.method,
            select=(spec.select[0],),
            to_row=spec.to_row,
            id_field=spec.id_field,
            row_id_field=spec.row_id_field,
            wrapper=spec.wrapper,
            extra_params=spec.extra_params,
        )
        for rows in _export(client, id_only, after_id=0):
            remote.extend(int(row[spec.row_id_field]) for row in rows)
        up_to = max(remote) if remote else 2**62
        with transaction.atomic():
            removed += mirror_delete_missing(spec, remote, up_to_id=up_to, synced_before=started)
        SyncState.objects.filter(entity=spec.key).update(reconciled_at=started)
    SyncRun.objects.filter(pk=run.pk).update(records_done=removed)
    _finish(run, client)
    return removed


def records_refresh(
    client: BitrixClient, pending: dict[str, list[int]]
) -> tuple[int, int, dict[str, list[int]]]:
    """Re-read records named by events (any mix of entities, up to 2,500 ids in one request):
    upsert those the portal still lists, delete those it does not.

    Only the records: their detail rows (a deal's product rows, an activity's bindings) cost one
    command per record, and a batch request's commands run one after another on the portal, so
    carrying them here made every record of a burst wait for the details of the others. Returns
    the ids of stored records that have details, for details_refresh to read next.
    """
    commands: dict[str, Command] = {}
    asked: dict[str, tuple[str, list[int]]] = {}
    for spec_key, ids in pending.items():
        spec = BY_KEY[spec_key]
        ids = sorted(set(ids))
        for index in range(0, len(ids), PAGE):
            part = ids[index : index + PAGE]
            key = f"{spec_key}{index}"
            asked[key] = (spec_key, part)
            commands[key] = (
                spec.method,
                {
                    **spec.extra_params,
                    "select": list(spec.select),
                    "filter": {f"@{spec.id_field}": part},
                    "start": -1,
                },
            )
    if len(commands) > MAX_BATCH:
        raise ValueError("records_refresh takes at most 50 pages of ids at a time")
    results, errors = _batched(client, commands)
    found: dict[str, list[dict]] = {key: [] for key in pending}
    for key, (spec_key, _) in asked.items():
        if key in errors:
            raise errors[key]
        found[spec_key].extend(_unwrap(results.get(key), BY_KEY[spec_key].wrapper))
    written = deleted = 0
    with_details: dict[str, list[int]] = {}
    with transaction.atomic():
        for spec_key, rows in found.items():
            spec = BY_KEY[spec_key]
            present = {int(row[spec.row_id_field]) for row in rows}
            written += mirror_upsert(spec, rows)
            gone = [i for i in set(pending[spec_key]) if i not in present]
            deleted += mirror_delete(spec, gone)
            if spec_key == "invoice":
                invoice_semantics_refresh()
            if spec.details and present:
                with_details[spec_key] = sorted(present)
    return written, deleted, with_details


def details_refresh(client: BitrixClient, pending: dict[str, list[int]]) -> int:
    """Re-read the detail rows of records events named (at most one batch request's worth of
    commands: len(spec.details) per record) and replace them whole; returns the rows written.

    Rows are stored only for records the mirror still has, locked meanwhile, so a record an
    event deleted since gets no orphan rows and a concurrent write of the same record waits."""
    commands: dict[str, Command] = {}
    for spec_key, ids in pending.items():
        commands.update(_detail_commands(BY_KEY[spec_key], ids))
    if len(commands) > MAX_BATCH:
        raise ValueError("details_refresh takes at most 50 commands at a time")
    results, errors = _batched(client, commands)
    written = 0
    with transaction.atomic():
        for spec_key, ids in pending.items():
            spec = BY_KEY[spec_key]
            present = list(
                spec.model.objects.select_for_update()
                .filter(id__in=ids)
                .order_by("id")
                .values_list("id", flat=True)
            )
            written += details_write(_details_found(spec, present, results, errors))
    return written


def eta_seconds(run: SyncRun) -> float | None:
    """Remaining time of a run at its average speed so far."""
    if not run.started_at or not run.records_total or not run.records_done:
        return None
    elapsed = (timezone.now() - run.started_at).total_seconds()
    remaining = max(0, run.records_total - run.records_done)
    return remaining * elapsed / run.records_done if elapsed > 0 else None
