"""Set-based writes into the mirror: one INSERT … ON CONFLICT DO UPDATE per page of rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection
from django.utils import timezone
from psycopg import sql

from crm_sync.sync.entities import DetailSpec, EntitySpec


def _update_fields(spec: EntitySpec) -> list[str]:
    return [f.name for f in spec.model._meta.concrete_fields if not f.primary_key]


def mirror_upsert(spec: EntitySpec, rows: Sequence[dict], *, now: datetime | None = None) -> int:
    """Insert or update the given Bitrix24 records; returns how many distinct ids were written."""
    now = now or timezone.now()
    latest: dict[int, dict] = {}
    for row in rows:  # one statement may not touch a row twice: the last version wins
        latest[int(row[spec.row_id_field])] = row
    objects = [
        spec.model(id=record_id, synced_at=now, **spec.to_row(row))
        for record_id, row in latest.items()
    ]
    if not objects:
        return 0
    spec.model.objects.bulk_create(
        objects,
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=_update_fields(spec),
        batch_size=5000,
    )
    return len(objects)


def mirror_delete(spec: EntitySpec, ids: Iterable[int]) -> int:
    ids = list(ids)
    if not ids:
        return 0
    for detail in spec.details:
        detail.model.objects.filter(**{f"{detail.parent_field}__in": ids}).delete()
    deleted, _ = spec.model.objects.filter(id__in=ids).delete()
    return deleted


def details_replace(
    detail: DetailSpec, rows_by_record: dict[int, list[dict]], *, now: datetime | None = None
) -> int:
    """Make the mirror hold exactly these rows for these records: one upsert of the rows, then
    one DELETE of the records' rows the upsert did not touch. Returns how many rows were written."""
    if not rows_by_record:
        return 0
    now = now or timezone.now()
    latest: dict[tuple, dict] = {}
    for rows in rows_by_record.values():
        for row in rows:
            latest[tuple(row[name] for name in detail.unique_fields)] = row
    if latest:
        update_fields = [
            f.name
            for f in detail.model._meta.concrete_fields
            if not f.primary_key and f.name not in detail.unique_fields
        ]
        detail.model.objects.bulk_create(
            [detail.model(synced_at=now, **row) for row in latest.values()],
            update_conflicts=True,
            unique_fields=list(detail.unique_fields),
            update_fields=update_fields,
            batch_size=5000,
        )
    table = detail.model._meta.db_table
    column = detail.model._meta.get_field(detail.parent_field).column
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE {} = ANY(%s::bigint[]) AND synced_at < %s").format(
                sql.Identifier(table), sql.Identifier(column)
            ),
            [list(rows_by_record), now],
        )
    return len(latest)


def details_orphans_delete(spec: EntitySpec) -> int:
    """Drop detail rows whose record the mirror no longer has (after id reconciliation)."""
    parent = spec.model._meta.db_table
    removed = 0
    with connection.cursor() as cursor:
        for detail in spec.details:
            table = detail.model._meta.db_table
            column = detail.model._meta.get_field(detail.parent_field).column
            cursor.execute(
                sql.SQL(
                    "DELETE FROM {} AS d WHERE NOT EXISTS (SELECT 1 FROM {} AS p WHERE p.id = d.{})"
                ).format(sql.Identifier(table), sql.Identifier(parent), sql.Identifier(column))
            )
            removed += cursor.rowcount
    return removed


def mirror_delete_missing(
    spec: EntitySpec, remote_ids: Sequence[int], *, up_to_id: int, synced_before: datetime
) -> int:
    """Delete mirror rows whose ids the portal no longer lists (id reconciliation).

    Only ids up to the highest id the export reached, and only rows not written since the
    reconciliation began, are candidates: a record created meanwhile is not a deletion.
    """
    table = spec.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {table} AS m
            WHERE m.id <= %s AND m.synced_at < %s
              AND NOT (m.id = ANY(%s::bigint[]))
            """,  # noqa: S608 - table name from model metadata
            [up_to_id, synced_before, list(remote_ids)],
        )
        deleted = cursor.rowcount
    if deleted and spec.details:
        details_orphans_delete(spec)
    return deleted


def invoice_semantics_refresh() -> None:
    """Smart invoices carry only a stage id: take success/failure from the stage directory."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE crm_sync_smartinvoice AS i
            SET stage_semantic = COALESCE(s.semantics, 'P')
            FROM crm_sync_stage AS s
            WHERE s.status_id = i.stage_id AND s.entity_id LIKE 'SMART_INVOICE_STAGE_%%'
              AND i.stage_semantic IS DISTINCT FROM COALESCE(s.semantics, 'P')
            """
        )
