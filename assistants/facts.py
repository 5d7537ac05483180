"""Client facts: one set-based pass over the mirror that every assistant rule reads.

For every client (contact or company) and every deal, one statement computes when it was last
really contacted (by the portal's definition of activity), when it was last called, how far its
planned work reaches, whether it has open or won deals, and its owner. Activity is aggregated per
client across its own record, its deals and (for a company) its contacts. The activity table is
scanned once and grouped by owning record (the cost of a bare GROUP BY), and timeline comments,
when they count, likewise and appended; the grouped rows are then fanned out to every client
they belong to (its record, its deals' contact and company, its contact's company) and grouped
once more.

The result is materialised in a temporary table (`kw_client_facts`) for the rest of the pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

CONTACT, COMPANY, DEAL = 3, 4, 2
FACTS_TABLE = "kw_client_facts"


@dataclass(frozen=True)
class ActivityDefinition:
    """Which activities count as contact with the client (assistant settings → `activity`)."""

    calls: bool = True
    min_call_seconds: int = 0
    emails_incoming: bool = True
    emails_outgoing: bool = True
    meetings: bool = True
    tasks: bool = True
    todos: bool = True
    invoices: bool = True
    deals: bool = True
    # Timeline comments (crm_sync.TimelineComment) count when on, if at least this long: seed
    # 003's managers write "ok" or "." to fake work. Keepwarm's own posts never count.
    comments: bool = True
    min_comment_chars: int = 15

    # Not a field here on purpose: internal notes are not in the mirror (Bitrix24 offers no
    # list and no event for them), so `internal_notes` cannot change what counts; the settings
    # schema says so in its description.

    @classmethod
    def from_settings(cls, activity: dict[str, Any]) -> ActivityDefinition:
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in activity.items() if key in fields})

    def call_sql(self) -> str:
        """A completed call that lasted at least `min_call_seconds` (end − start).

        Bitrix24 gives a call activity no duration field; telephony sets START_TIME and
        END_TIME to the call's start and end, so their difference is the talk time. With a
        minimum set, a call with no end time (never connected) does not count.
        """
        if self.min_call_seconds <= 0:
            return "(a.type_id = 2 AND a.completed)"
        seconds = int(self.min_call_seconds)
        return (
            "(a.type_id = 2 AND a.completed AND a.end_time - a.start_time "
            f">= interval '{seconds} seconds')"
        )

    def sql(self) -> str:
        """A boolean SQL expression over crm_sync_activity `a`: does this row count?"""
        parts = []
        if self.calls:
            parts.append(self.call_sql())
        if self.emails_incoming:
            parts.append("(a.type_id = 4 AND a.direction = 1)")
        if self.emails_outgoing:
            parts.append("(a.type_id = 4 AND a.direction = 2)")
        if self.meetings:
            parts.append("(a.type_id = 1 AND a.completed)")
        if self.tasks:
            parts.append("(a.type_id = 3 AND a.completed)")
        if self.todos:
            parts.append("(a.provider_id = 'CRM_TODO' AND a.completed)")
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    def comments_sql(self) -> str:
        """Extra rows of `owner_activity`: the latest counting comment per record, grouped
        like activities (comments are few next to activities, so this is a small source, and
        nothing at all when comments do not count)."""
        if not self.comments:
            return ""
        return """
            UNION ALL
            SELECT c.entity_type_id, c.entity_id,
                   max(LEAST(c.created_at, %(as_of)s)), NULL::timestamptz, NULL::timestamptz
            FROM crm_sync_timelinecomment c
            WHERE c.entity_type_id IN (2, 3, 4) AND NOT c.keepwarm
              AND c.length >= %(min_comment_chars)s AND c.created_at <= %(as_of)s
            GROUP BY c.entity_type_id, c.entity_id"""


@dataclass(frozen=True)
class PlannedDateField:
    entity: str  # contact, company or deal
    field: str  # UF_… holding a date


def client_facts_build(
    *,
    as_of: datetime,
    definition: ActivityDefinition,
    planned_dates: list[PlannedDateField] = (),
    open_tasks_are_planned: bool = True,
    future_activities_are_planned: bool = True,
    uf_fields: Sequence[str] = (),
) -> int:
    """(Re)build kw_client_facts for this connection; returns the number of clients.

    Columns: entity_type_id, client_id, owner_id, created_at, modified_at, uf, last_activity_at,
    last_call_at, planned_until, open_deals, last_won_at. `uf` holds only `uf_fields` (the
    ones rules read): a portal's records may carry dozens of user fields, and copying them all
    into the table would multiply its size for nothing.
    """
    counts = definition.sql()
    uf_dates = _uf_date_sql(planned_dates)
    uf = _uf_projection_sql(uf_fields)
    planned_activity = (
        "max(a.deadline) FILTER (WHERE NOT a.completed AND a.deadline >= %(as_of)s)"
        if future_activities_are_planned
        else "NULL::timestamptz"
    )
    task_planned = (
        """
        task_links AS (
            SELECT l.et, l.cid, max(t.deadline) AS until
            FROM crm_sync_task t
            CROSS JOIN LATERAL unnest(t.crm_bindings) AS b(code)
            LEFT JOIN crm_sync_deal d
                   ON split_part(b.code, '_', 1) = 'D'
                  AND d.id = NULLIF(split_part(b.code, '_', 2), '')::bigint
            CROSS JOIN LATERAL (VALUES
                (3, CASE split_part(b.code, '_', 1)
                        WHEN 'C' THEN NULLIF(split_part(b.code, '_', 2), '')::bigint
                        WHEN 'D' THEN d.contact_id END),
                (4, CASE split_part(b.code, '_', 1)
                        WHEN 'CO' THEN NULLIF(split_part(b.code, '_', 2), '')::bigint
                        WHEN 'D' THEN d.company_id END),
                (2, CASE split_part(b.code, '_', 1)
                        WHEN 'D' THEN NULLIF(split_part(b.code, '_', 2), '')::bigint END)
            ) AS l(et, cid)
            WHERE l.cid IS NOT NULL AND t.status NOT IN (5, 7) AND t.deadline >= %(as_of)s
            GROUP BY l.et, l.cid
        ),"""
        if open_tasks_are_planned
        else (
            "task_links AS (SELECT 0 AS et, 0::bigint AS cid, "
            "NULL::timestamptz AS until WHERE FALSE),"
        )
    )
    sql = f"""
        CREATE TEMPORARY TABLE {FACTS_TABLE} AS
        WITH owner_activity AS (
            -- One pass over the activity table, grouped by the record it belongs to: the same
            -- work as a bare GROUP BY. Everything after this touches only the grouped rows.
            SELECT a.owner_type_id, a.owner_id,
                   max(LEAST(COALESCE(a.end_time, a.start_time, a.created_at), %(as_of)s))
                       FILTER (WHERE {counts} AND COALESCE(a.start_time, a.created_at) <= %(as_of)s)
                       AS last_activity_at,
                   max(COALESCE(a.start_time, a.created_at))
                       FILTER (WHERE {definition.call_sql()}
                               AND COALESCE(a.start_time, a.created_at) <= %(as_of)s)
                       AS last_call_at,
                   {planned_activity} AS planned_until
            FROM crm_sync_activity a
            WHERE a.owner_type_id IN (2, 3, 4)
            GROUP BY a.owner_type_id, a.owner_id{definition.comments_sql()}
        ),
        activity_links AS (
            -- Each grouped row counts for its own record and, through the mirror's links, for
            -- the deal's contact and company and the contact's company. Three joined streams
            -- appended and grouped once: a third of the time of one LATERAL VALUES fan-out.
            SELECT l.et, l.cid, max(l.last_activity_at) AS last_activity_at,
                   max(l.last_call_at) AS last_call_at, max(l.planned_until) AS planned_until
            FROM (
                SELECT o.owner_type_id AS et, o.owner_id AS cid, o.last_activity_at,
                       o.last_call_at, o.planned_until
                FROM owner_activity o
                UNION ALL
                SELECT 3, d.contact_id, o.last_activity_at, o.last_call_at, o.planned_until
                FROM owner_activity o JOIN crm_sync_deal d ON d.id = o.owner_id
                WHERE o.owner_type_id = 2 AND d.contact_id IS NOT NULL
                UNION ALL
                SELECT 4, d.company_id, o.last_activity_at, o.last_call_at, o.planned_until
                FROM owner_activity o JOIN crm_sync_deal d ON d.id = o.owner_id
                WHERE o.owner_type_id = 2 AND d.company_id IS NOT NULL
                UNION ALL
                SELECT 4, c.company_id, o.last_activity_at, o.last_call_at, o.planned_until
                FROM owner_activity o JOIN crm_sync_contact c ON c.id = o.owner_id
                WHERE o.owner_type_id = 3 AND c.company_id IS NOT NULL
            ) AS l
            GROUP BY l.et, l.cid
        ),
        {task_planned}
        deal_links AS (
            SELECT l.et, l.cid,
                   count(*) FILTER (WHERE d.stage_semantic = 'P' AND NOT d.closed) AS open_deals,
                   max(COALESCE(d.close_date, d.modified_at))
                       FILTER (WHERE d.stage_semantic = 'S') AS last_won_at,
                   max(d.created_at) FILTER (WHERE d.created_at <= %(as_of)s) AS last_deal_at
            FROM crm_sync_deal d
            CROSS JOIN LATERAL (VALUES (3, d.contact_id), (4, d.company_id)) AS l(et, cid)
            WHERE l.cid IS NOT NULL
            GROUP BY l.et, l.cid
        ),
        invoice_links AS (
            SELECT l.et, l.cid, max(i.created_at) AS last_invoice_at
            FROM crm_sync_smartinvoice i
            CROSS JOIN LATERAL (VALUES (3, i.contact_id), (4, i.company_id)) AS l(et, cid)
            WHERE l.cid IS NOT NULL AND i.created_at <= %(as_of)s
            GROUP BY l.et, l.cid
        ),
        clients AS (
            SELECT 3 AS et, id AS cid, assigned_by_id AS owner_id, created_at, modified_at,
                   {uf} AS uf,
                   NULL::text AS stage_id, NULL::bigint AS category_id,
                   {uf_dates["contact"]} AS uf_planned
            FROM crm_sync_contact
            UNION ALL
            SELECT 4, id, assigned_by_id, created_at, modified_at, {uf}, NULL, NULL,
                   {uf_dates["company"]}
            FROM crm_sync_company WHERE NOT is_my_company
            UNION ALL
            SELECT 2, id, assigned_by_id, created_at, modified_at, {uf}, stage_id, category_id,
                   {uf_dates["deal"]}
            FROM crm_sync_deal WHERE stage_semantic = 'P' AND NOT closed
        )
        SELECT c.et AS entity_type_id, c.cid AS client_id, c.owner_id, c.created_at,
               c.modified_at, c.uf,
               c.stage_id, c.category_id,
               GREATEST(
                   al.last_activity_at,
                   CASE WHEN %(count_deals)s AND c.et <> 2 THEN dl.last_deal_at END,
                   CASE WHEN %(count_invoices)s THEN il.last_invoice_at END
               ) AS last_activity_at,
               al.last_call_at,
               GREATEST(al.planned_until, tl.until, c.uf_planned) AS planned_until,
               COALESCE(dl.open_deals, 0) AS open_deals,
               dl.last_won_at
        FROM clients c
        LEFT JOIN activity_links al ON al.et = c.et AND al.cid = c.cid
        LEFT JOIN task_links tl ON tl.et = c.et AND tl.cid = c.cid
        LEFT JOIN deal_links dl ON dl.et = c.et AND dl.cid = c.cid
        LEFT JOIN invoice_links il ON il.et = c.et AND il.cid = c.cid
    """
    params = {
        "as_of": as_of,
        "count_deals": definition.deals,
        "count_invoices": definition.invoices,
        "min_comment_chars": max(0, int(definition.min_comment_chars)),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FACTS_TABLE}")
        cursor.execute(sql, params)
        cursor.execute(f"CREATE UNIQUE INDEX ON {FACTS_TABLE} (entity_type_id, client_id)")
        # Statistics for the columns rules join and filter on; not `uf` (JSONB, slow to sample).
        cursor.execute(
            f"ANALYZE {FACTS_TABLE} (entity_type_id, client_id, owner_id, last_activity_at, "
            "planned_until, open_deals)"
        )
        cursor.execute(f"SELECT count(*) FROM {FACTS_TABLE}")
        return cursor.fetchone()[0]


def _checked_uf_name(name: str) -> str:
    if not (name.startswith("UF_") and name.replace("_", "").isalnum() and name.isascii()):
        raise ValueError(f"bad user field name {name!r}")  # the settings schema checks it too
    return name


def _uf_projection_sql(fields: Sequence[str]) -> str:
    """A JSONB object of just these user fields (absent ones read as NULL, as before)."""
    names = sorted({_checked_uf_name(name) for name in fields})
    if not names:
        return "'{}'::jsonb"
    # jsonb_build_object takes at most 100 arguments: 50 fields a call, joined with ||.
    parts = []
    for start in range(0, len(names), 50):
        pairs = ", ".join(f"'{name}', uf->'{name}'" for name in names[start : start + 50])
        parts.append(f"jsonb_build_object({pairs})")
    return "(" + " || ".join(parts) + ")"


def _uf_date_sql(fields: list[PlannedDateField]) -> dict[str, str]:
    """SQL for "the latest future date among the configured UF date fields" per entity."""
    by_entity: dict[str, list[str]] = {"contact": [], "company": [], "deal": []}
    for item in fields:
        name = _checked_uf_name(item.field)
        by_entity[item.entity].append(
            f"CASE WHEN uf->>'{name}' ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}' "
            f"THEN (substring(uf->>'{name}' from 1 for 10))::date::timestamptz END"
        )
    return {
        entity: ("GREATEST(" + ", ".join(parts) + ")") if parts else "NULL::timestamptz"
        for entity, parts in by_entity.items()
    }
