"""Set-based writes into the mirror: one INSERT … ON CONFLICT DO UPDATE per page of rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from psycopg import sql

from crm_sync.sync.entities import DetailSpec, EntitySpec


def _json_value(value: object) -> str:
    """JSON for what a row's converters return besides JSON's own types (PostgreSQL parses
    both forms back: ISO timestamps with their offset, decimals as exact text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def mirror_upsert(spec: EntitySpec, rows: Sequence[dict], *, now: datetime | None = None) -> int:
    """Insert or update the given Bitrix24 records; returns how many distinct ids were written.

    One statement per page: the rows go to PostgreSQL as one JSON array, which it turns into the
    table's row type itself (jsonb_populate_recordset). Django's bulk_create prepared every value
    of a page (2,500 records × 16 fields) in Python first, which took as long as the portal needs
    to send the next page, so a full sync's speed depended on this process's CPU, not on the
    portal's request budget. A field the converter leaves out gets its model default, as before.
    """
    now = now or timezone.now()
    latest: dict[int, dict] = {}
    for row in rows:  # one statement may not touch a row twice: the last version wins
        latest[int(row[spec.row_id_field])] = row
    if not latest:
        return 0
    fields = spec.model._meta.concrete_fields
    defaults = {field.attname: field.get_default() for field in fields}
    payload = json.dumps(
        [
            {**defaults, **spec.to_row(row), "id": record_id, "synced_at": now}
            for record_id, row in latest.items()
        ],
        default=_json_value,
        separators=(",", ":"),
    )
    columns = [sql.Identifier(field.column) for field in fields]
    table = sql.Identifier(spec.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT {columns} "
                "FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) "
                "ON CONFLICT ({pk}) DO UPDATE SET {updates}"
            ).format(
                table=table,
                columns=sql.SQL(", ").join(columns),
                pk=sql.Identifier(spec.model._meta.pk.column),
                updates=sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(field.column))
                    for field in fields
                    if not field.primary_key
                ),
            ),
            [payload],
        )
    return len(latest)


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


def details_imply(spec: EntitySpec, ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Make the mirror hold exactly the implied detail rows (DetailSpec.implied) of these
    records, copied from their mirror rows by SQL; returns how many rows were written.

    A full sync calls this for every page it stored, in the same transaction: building a model
    object per implied row cost as much as storing the records (a tenth of a second per page of
    2,500 activities), which made the first sync slower than the portal's request budget.
    A record that implies nothing keeps the rows it has; one that does has them replaced whole.
    """
    ids = list(ids)
    if not ids:
        return 0
    now = now or timezone.now()
    parent = spec.model._meta
    written = 0
    with connection.cursor() as cursor:
        for detail in spec.details:
            if not detail.implied:
                continue
            meta = detail.model._meta
            targets = [sql.Identifier(meta.get_field(name).column) for name, _ in detail.implied]
            sources = [sql.Identifier(parent.get_field(name).column) for _, name in detail.implied]
            implied = sql.SQL("{id} = ANY(%s::bigint[]) AND {nonzero}").format(
                id=sql.Identifier(parent.pk.column),
                nonzero=sql.SQL(" AND ").join(sql.SQL("{} <> 0").format(c) for c in sources),
            )
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {table} ({targets}, synced_at) SELECT {sources}, %s FROM {parent} "
                    "WHERE {implied} "
                    "ON CONFLICT ({unique}) DO UPDATE SET synced_at = EXCLUDED.synced_at"
                ).format(
                    table=sql.Identifier(meta.db_table),
                    targets=sql.SQL(", ").join(targets),
                    sources=sql.SQL(", ").join(sources),
                    parent=sql.Identifier(parent.db_table),
                    implied=implied,
                    unique=sql.SQL(", ").join(
                        sql.Identifier(meta.get_field(name).column) for name in detail.unique_fields
                    ),
                ),
                [now, ids],
            )
            written += cursor.rowcount
            cursor.execute(
                sql.SQL(
                    "DELETE FROM {table} WHERE synced_at < %s AND {column} IN "
                    "(SELECT {id} FROM {parent} WHERE {implied})"
                ).format(
                    table=sql.Identifier(meta.db_table),
                    column=sql.Identifier(meta.get_field(detail.parent_field).column),
                    id=sql.Identifier(parent.pk.column),
                    parent=sql.Identifier(parent.db_table),
                    implied=implied,
                ),
                [now, ids],
            )
    return written


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
