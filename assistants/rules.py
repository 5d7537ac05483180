"""The assistants' rules as set-based SQL over the mirror and kw_client_facts.

Each rule is one INSERT … SELECT into the decision outbox with ON CONFLICT (key) DO NOTHING: the
key names the situation (client, rule, the clock or activity it is about), so a second pass over
the same data inserts nothing, and a decision already executed is never repeated. Rules never
touch Bitrix24; the executor does (assistants.executor).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from assistants.calendar import WorkCalendar
from assistants.facts import FACTS_TABLE
from assistants.selectors import AWAY_USERS_SQL

ENTITY_TYPES = {"contact": 3, "company": 4, "deal": 2}
STATUS_FIELD = "UF_CRM_KEEPWARM_STATUS"


@dataclass(frozen=True)
class PassContext:
    pass_id: int | None
    as_of: datetime
    settings: dict[str, Any]
    settings_version: int
    calendar: WorkCalendar
    # Decisions this pass inserted, by (assistant, action): counted as they are written, so the
    # pass's summary needs no second read of ~100,000 rows.
    tally: Counter = field(default_factory=Counter)

    def entity_ids(self) -> list[int]:
        return [ENTITY_TYPES[name] for name in self.settings["entities"]]


def uf_fields_read(settings: dict[str, Any]) -> list[str]:
    """The user fields the rules read from kw_client_facts: the status and scope conditions."""
    fields = {STATUS_FIELD}
    for rule in ("ladder", "forgotten", "released", "deals"):
        for condition in (settings[rule].get("scope") or {}).get("conditions") or []:
            fields.add(condition["field"])
    return sorted(fields)


def _execute(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _insert_decisions(
    ctx: PassContext, select_sql: str, params: dict[str, Any], *, status: str = "queued"
) -> int:
    """INSERT the rows of `select_sql` (key, assistant, rule, et, cid, owner, action, params,
    facts) into the outbox; existing keys are left alone. Returns how many were inserted."""
    sql = f"""
        WITH inserted AS (
            INSERT INTO assistants_decision
                (key, pass_ref_id, assistant, rule, rule_version, entity_type_id, client_id,
                 owner_id, action, params, facts, reason, status, attempts, last_error, result,
                 created_at)
            SELECT s.key, %(pass_id)s, s.assistant, s.rule, %(version)s, s.et, s.cid,
                   s.owner_id, s.action, s.params, s.facts, '', %(status)s, 0, '', '{{}}'::jsonb,
                   %(now)s
            FROM ({select_sql}) AS s(key, assistant, rule, et, cid, owner_id, action, params,
                                     facts)
            ON CONFLICT (key) DO NOTHING
            RETURNING assistant, action
        )
        SELECT assistant, action, count(*) FROM inserted GROUP BY assistant, action
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "status": status})
        rows = cursor.fetchall()
    for assistant, action, count in rows:
        ctx.tally[(assistant, action)] += count
    return sum(count for _, _, count in rows)


def _base_params(ctx: PassContext) -> dict[str, Any]:
    return {
        "pass_id": ctx.pass_id,
        "version": ctx.settings_version,
        "now": ctx.as_of,
        "as_of": ctx.as_of,
        "entities": ctx.entity_ids(),
    }


# --- the status ladder ----------------------------------------------------------------------


def _status_values_sql() -> str:
    """(et, enum id as text, status code) from the mirrored definition of our status field."""
    return f"""
        SELECT CASE d.entity WHEN 'CRM_CONTACT' THEN 3 WHEN 'CRM_COMPANY' THEN 4 END AS et,
               item->>'id' AS value, item->>'xml_id' AS code
        FROM crm_sync_userfielddefinition d
        CROSS JOIN LATERAL jsonb_array_elements(d.enum_items) AS item
        WHERE d.field_name = '{STATUS_FIELD}' AND d.entity IN ('CRM_CONTACT', 'CRM_COMPANY')
    """


STATUS_CHANGES_TABLE = "kw_status_changes"


def ladder_states_refresh(ctx: PassContext) -> dict[str, int]:
    """Take in what people did in Bitrix24: new statuses, changes, clearings.

    A status change that raises a client without a recent call is not taken in when the portal
    forbids it; instead a revert decision is queued (seed 001: revert and warn).
    """
    ladder = ctx.settings["ladder"]
    codes = [status["code"] for status in ladder["statuses"]]
    rank = json.dumps({code: index for index, code in enumerate(codes)})
    params = {
        **_base_params(ctx),
        "rank": rank,
        "lookback": ctx.as_of - timedelta(days=ladder["raise_call_lookback_days"]),
        "requires_call": ladder["raise_requires_call"],
    }
    in_scope = _ladder_scope_sql(ctx, "f", params)
    seen = f"""
        SELECT f.entity_type_id AS et, f.client_id AS cid, f.owner_id,
               COALESCE(f.uf->>'{STATUS_FIELD}', '') AS value, v.code,
               f.last_activity_at, f.last_call_at, f.created_at, f.modified_at,
               {in_scope} AS in_scope
        FROM {FACTS_TABLE} f
        LEFT JOIN ({_status_values_sql()}) v
               ON v.et = f.entity_type_id AND v.value = f.uf->>'{STATUS_FIELD}'
        WHERE f.entity_type_id = ANY(%(entities)s)
    """
    counts = {}
    # 1. Clients seen with a status for the first time: start their clock from their history.
    counts["adopted"] = _execute(
        f"""
        INSERT INTO assistants_clientstate
            (entity_type_id, client_id, status, status_since, bitrix_value, updated_at)
        SELECT s.et, s.cid, s.code,
               LEAST(COALESCE(s.last_activity_at, s.created_at, %(as_of)s), %(as_of)s),
               s.value, %(now)s
        FROM ({seen}) s
        WHERE s.code IS NOT NULL AND s.code <> 'empty'
        ON CONFLICT (entity_type_id, client_id) DO NOTHING
        """,
        params,
    )
    # Fresh statistics for this and the ladder's joins: on a portal's first pass the table was
    # empty a statement ago, and joins planned on that ran as nested loops (a second per pass).
    _execute("ANALYZE assistants_clientstate", {})
    # 2. What people changed in Bitrix24 since the last pass, read once (usually a handful of
    #    rows): a raise without a recent call, where the portal forbids it, is flagged.
    _execute(f"DROP TABLE IF EXISTS {STATUS_CHANGES_TABLE}", {})
    _execute(
        f"""
        CREATE TEMPORARY TABLE {STATUS_CHANGES_TABLE} AS
        SELECT s.*, cs.status AS old_status, cs.status_since, cs.bitrix_value AS old_value,
               COALESCE(%(requires_call)s AND s.in_scope AND s.code NOT IN ('empty', 'in_work')
                   AND (%(rank)s::jsonb->>s.code)::int < (%(rank)s::jsonb->>cs.status)::int
                   AND (s.last_call_at IS NULL OR s.last_call_at < %(lookback)s),
                   FALSE) AS forbidden
        FROM ({seen}) s
        JOIN assistants_clientstate cs ON cs.entity_type_id = s.et AND cs.client_id = s.cid
        WHERE s.value <> cs.bitrix_value
        """,
        params,
    )
    _execute(f"ANALYZE {STATUS_CHANGES_TABLE}", {})
    # A forbidden raise is not taken in: a revert and a warning are queued (seed 001).
    counts["reverted"] = _insert_decisions(
        ctx,
        f"""
        SELECT 'ladder:revert:' || f.et || ':' || f.cid || ':' || f.value || ':'
                   || COALESCE(to_char(f.modified_at, 'YYYYMMDDHH24MISS'), '-') AS key,
               'ladder' AS assistant, 'ladder.raise_without_call' AS rule, f.et, f.cid,
               f.owner_id, 'set_status' AS action,
               jsonb_build_object('from', f.code, 'to', f.old_status, 'revert', true,
                                  'notify_owner', true) AS params,
               jsonb_build_object('attempted_status', f.code, 'status', f.old_status,
                                  'last_call_at', f.last_call_at,
                                  'lookback_days', %(lookback_days)s) AS facts
        FROM {STATUS_CHANGES_TABLE} f
        WHERE f.forbidden
        """,
        {**params, "lookback_days": ladder["raise_call_lookback_days"]},
    )
    # 3. Every other change is taken in as the new status with a fresh clock; a cleared status
    #    (Empty) takes the client out of the ladder.
    counts["taken_in"] = _execute(
        f"""
        UPDATE assistants_clientstate cs
        SET status = c.code, status_since = %(as_of)s, bitrix_value = c.value, updated_at = %(now)s
        FROM {STATUS_CHANGES_TABLE} c
        WHERE cs.entity_type_id = c.et AND cs.client_id = c.cid
          AND c.code IS NOT NULL AND c.code <> 'empty' AND NOT c.forbidden
        """,
        params,
    )
    counts["cleared"] = _states_clear(STATUS_CHANGES_TABLE)
    return counts


def _states_clear(changes_table: str) -> int:
    """Take out of the ladder the clients whose status was cleared or set to Empty in Bitrix24.

    `changes_table` has et, cid, value (the field's raw value) and code (its status, if any).
    """
    return _execute(
        f"""
        DELETE FROM assistants_clientstate cs
        USING {changes_table} c
        WHERE cs.entity_type_id = c.et AND cs.client_id = c.cid
          AND ((c.code IS NULL AND c.value = '') OR c.code = 'empty')
        """,
        {},
    )


def _chain_rows(ctx: PassContext) -> list[tuple[str, str, datetime, int]]:
    """For each decaying status: every later status reachable, with the clock cutoff for it."""
    statuses = {s["code"]: s for s in ctx.settings["ladder"]["statuses"]}
    rows = []
    for code, status in statuses.items():
        cumulative = 0
        current = status
        seen = {code}
        while current["days"] and current["next"] and current["next"] not in seen:
            cumulative += current["days"]
            target = current["next"]
            rows.append((code, target, ctx.calendar.cutoff(ctx.as_of, cumulative), cumulative))
            seen.add(target)
            current = statuses[target]
    return rows


def _values_sql(rows: list[tuple], types: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """A VALUES list with named parameters (empty lists give a typed empty relation)."""
    params: dict[str, Any] = {}
    if not rows:
        nulls = ", ".join(f"NULL::{kind}" for kind in types)
        return f"SELECT {nulls} WHERE FALSE", params
    tuples = []
    for index, row in enumerate(rows):
        names = []
        for position, (value, kind) in enumerate(zip(row, types, strict=True)):
            name = f"v{index}_{position}"
            params[name] = value
            names.append(f"%({name})s::{kind}")
        tuples.append("(" + ", ".join(names) + ")")
    return "VALUES " + ", ".join(tuples), params


PENDING_DECAY_TABLE = "kw_pending_decay"


def _pending_decay_build() -> None:
    """Clients with a decay decision not carried out yet (this pass's included).

    The warning rule skips them. Read through a small analysed table: the decision table's own
    statistics predate the rows this pass just wrote, and an anti-join planned on them was a
    nested loop over the whole table (16 s on a cold pass of 100,000 clients).
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PENDING_DECAY_TABLE}")
        cursor.execute(
            f"""
            CREATE TEMPORARY TABLE {PENDING_DECAY_TABLE} AS
            SELECT DISTINCT entity_type_id AS et, client_id AS cid
            FROM assistants_decision
            WHERE rule = 'ladder.decay' AND status IN ('queued', 'executing')
            """
        )
        cursor.execute(f"ANALYZE {PENDING_DECAY_TABLE}")


def _ladder_scope_sql(ctx: PassContext, alias: str, params: dict[str, Any]) -> str:
    """Is the client one the ladder acts on (its scope: entities, owners, user fields)?"""
    scope = ctx.settings["ladder"].get("scope") or {}
    condition = _scope_sql(scope, alias, params, "ld")
    if scope.get("entities"):
        params["ld_entities"] = [ENTITY_TYPES[name] for name in scope["entities"]]
        condition += f" AND {alias}.entity_type_id = ANY(%(ld_entities)s)"
    return f"({condition})"


def ladder_decisions(ctx: PassContext) -> dict[str, int]:
    """In work, won → Hot, decay along the ladder (to its final step at once), warnings.

    Only clients within the ladder's scope are acted on; the others' statuses are kept as set.
    """
    ladder = ctx.settings["ladder"]
    params = _base_params(ctx)
    params["reset_on_calls"] = ladder["reset_on_calls"]
    in_scope = _ladder_scope_sql(ctx, "f", params)
    # Every ladder rule reads the same joined rows: materialise them once.
    _execute("DROP TABLE IF EXISTS kw_ladder_states", {})
    _execute(
        f"""
        CREATE TEMPORARY TABLE kw_ladder_states AS
        SELECT cs.entity_type_id AS et, cs.client_id AS cid, cs.status, cs.status_since,
               f.owner_id, f.open_deals, f.last_won_at, f.last_call_at, f.last_activity_at,
               GREATEST(cs.status_since,
                        CASE WHEN %(reset_on_calls)s THEN f.last_call_at END) AS clock
        FROM assistants_clientstate cs
        JOIN {FACTS_TABLE} f ON f.entity_type_id = cs.entity_type_id AND f.client_id = cs.client_id
        WHERE cs.entity_type_id = ANY(%(entities)s) AND {in_scope}
        """,
        params,
    )
    # Statistics only for what the ladder rules join and filter on.
    _execute("ANALYZE kw_ladder_states (et, cid, status, clock, open_deals)", {})
    states = "SELECT * FROM kw_ladder_states"
    counts = {}
    # An open deal puts the client In work; closing it (won or not) raises the client to Hot.
    counts["in_work"] = _insert_decisions(
        ctx,
        f"""
        SELECT 'ladder:in_work:' || s.et || ':' || s.cid || ':'
                   || to_char(s.status_since, 'YYYYMMDDHH24MISS') AS key,
               'ladder', 'ladder.open_deal', s.et, s.cid, s.owner_id, 'set_status',
               jsonb_build_object('from', s.status, 'to', 'in_work'),
               jsonb_build_object('open_deals', s.open_deals, 'status_since', s.status_since)
        FROM ({states}) s
        WHERE s.open_deals > 0 AND s.status <> 'in_work'
        """,
        params,
    )
    counts["hot"] = _insert_decisions(
        ctx,
        f"""
        SELECT 'ladder:hot:' || s.et || ':' || s.cid || ':'
                   || to_char(s.status_since, 'YYYYMMDDHH24MISS') AS key,
               'ladder', CASE WHEN s.status = 'in_work' THEN 'ladder.deal_closed'
                              ELSE 'ladder.deal_won' END,
               s.et, s.cid, s.owner_id, 'set_status',
               jsonb_build_object('from', s.status, 'to', 'hot'),
               jsonb_build_object('last_won_at', s.last_won_at, 'status_since', s.status_since)
        FROM ({states}) s
        WHERE s.open_deals = 0 AND s.status <> 'hot'
          AND (s.status = 'in_work' OR s.last_won_at > s.status_since)
        """,
        params,
    )
    chain, chain_params = _values_sql(_chain_rows(ctx), ("text", "text", "timestamptz", "integer"))
    params.update(chain_params)
    loss = ladder["on_loss"]
    # The furthest step each client has decayed to is picked over narrow rows first; the JSON
    # of a decision is built only for the rows that become decisions.
    counts["decay"] = _insert_decisions(
        ctx,
        f"""
        SELECT 'ladder:decay:' || s.et || ':' || s.cid || ':' || s.status || ':'
                   || to_char(s.status_since, 'YYYYMMDDHH24MISS') AS key,
               'ladder', 'ladder.decay', s.et, s.cid, s.owner_id, 'set_status',
               jsonb_build_object('from', s.status, 'to', s.target,
                                  'lost', s.target = 'lost', 'on_loss', %(on_loss)s::jsonb),
               jsonb_build_object('clock_started', s.clock, 'days', s.days,
                                  'last_call_at', s.last_call_at,
                                  'last_activity_at', s.last_activity_at,
                                  'reset_on_calls', %(reset_on_calls)s)
        FROM (
            SELECT DISTINCT ON (s.et, s.cid) s.*, c.target, c.days
            FROM ({states}) s
            JOIN ({chain}) AS c(source, target, cutoff, days) ON c.source = s.status
            WHERE s.clock < c.cutoff AND s.open_deals = 0
              AND NOT COALESCE(s.status <> 'hot' AND s.last_won_at > s.status_since, FALSE)
            ORDER BY s.et, s.cid, c.days DESC
        ) s
        """,
        {**params, "on_loss": json.dumps(loss)},
    )
    warn_days = ladder["warn_days_before"]
    if warn_days > 0:
        warn_rows = [
            (s["code"], s["next"], ctx.calendar.cutoff(ctx.as_of, s["days"] - warn_days), s["days"])
            for s in ladder["statuses"]
            if s["days"] and s["days"] > warn_days
        ]
        warns, warn_params = _values_sql(warn_rows, ("text", "text", "timestamptz", "integer"))
        _pending_decay_build()
        counts["warn"] = _insert_decisions(
            ctx,
            f"""
            SELECT 'ladder:warn:' || s.et || ':' || s.cid || ':' || s.status || ':'
                       || to_char(s.clock, 'YYYYMMDDHH24MISS') AS key,
                   'ladder', 'ladder.warning', s.et, s.cid, s.owner_id, 'notify',
                   jsonb_build_object('to', 'owner', 'status', s.status, 'next', w.target),
                   jsonb_build_object('clock_started', s.clock, 'days', w.days,
                                      'warn_days_before', %(warn_days)s)
            FROM ({states}) s
            JOIN ({warns}) AS w(source, target, cutoff, days) ON w.source = s.status
            WHERE s.clock < w.cutoff AND s.open_deals = 0
              AND NOT EXISTS (SELECT 1 FROM {PENDING_DECAY_TABLE} p
                              WHERE p.et = s.et AND p.cid = s.cid)
            """,
            {**params, **warn_params, "warn_days": warn_days},
        )
    return counts


# Warnings still waiting for their notification and not listed in an activity stream post that
# is (or will be) on the portal: never linked, or linked to a post that failed or was skipped.
_WAITING_WARNINGS = """
    SELECT w.id, w.entity_type_id, w.client_id, w.owner_id, w.params, w.facts
    FROM assistants_decision w
    WHERE w.rule = 'ladder.warning' AND w.status = 'queued' AND w.owner_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM assistants_decision g
                      WHERE g.key = w.params->>'stream' AND g.status NOT IN ('failed', 'skipped'))
"""
STREAM_RULE = "ladder.stream_digest"


def stream_digests_plan(ctx: PassContext) -> int:
    """At most one activity stream post per manager per portal day, listing their warnings.

    Seed 001's "message to the stream about soon status changes", batched like the digest: the
    key `ladder:stream:<manager>:<day>` makes the day's post unique, and warnings join it while
    it is still queued (it goes out with the notifications, at the portal's hour); once it has
    gone out, later warnings wait for the next day's. Each item is [warning id, entity type,
    client id, status, next status, clock start, days of the status]. Returns posts planned.
    """
    params = {**_base_params(ctx), "day": portal_day(ctx.as_of)}
    created = _insert_decisions(
        ctx,
        f"""
        SELECT 'ladder:stream:' || w.owner_id || ':' || %(day)s,
               'ladder', '{STREAM_RULE}', 0, w.owner_id, w.owner_id, 'stream_post',
               jsonb_build_object('to', 'owner', 'day', %(day)s, 'items', '[]'::jsonb),
               jsonb_build_object('day', %(day)s)
        FROM ({_WAITING_WARNINGS}) w
        GROUP BY w.owner_id
        """,
        params,
    )
    _items_link(
        _WAITING_WARNINGS,
        group="owner_id",
        prefix="ladder:stream",
        mark="stream",
        item=_STREAM_ITEM,
        params=params,
    )
    return created + _team_stream_digests_plan(ctx, params)


# The same, for the supervisors' posts (a warning is in its manager's and in the team's post).
_WAITING_TEAM_WARNINGS = _WAITING_WARNINGS.replace("'stream'", "'team_stream'")


def _team_stream_digests_plan(ctx: PassContext, params: dict[str, Any]) -> int:
    """One post per supervisor per day with the warnings of their team (issue 5: a digest per
    manager and one per supervisor). Supervisors come from the mirrored company structure,
    resolved per waiting manager (a few dozen people), never per client."""
    from crm_sync.selectors import department_heads

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT owner_id FROM ({_WAITING_TEAM_WARNINGS}) w")
        owners = [row[0] for row in cursor.fetchall()]
    if not owners:
        return 0
    org = department_heads()
    pairs = [(owner, head) for owner in owners if (head := org.supervisor_of(owner))]
    if not pairs:
        return 0
    teams, team_params = _values_sql(pairs, ("bigint", "bigint"))
    params = {**params, **team_params}
    created = _insert_decisions(
        ctx,
        f"""
        SELECT 'ladder:stream-team:' || t.head || ':' || %(day)s,
               'ladder', '{STREAM_RULE}', 0, t.head, t.head, 'stream_post',
               jsonb_build_object('to', 'owner', 'team', true, 'day', %(day)s,
                                  'items', '[]'::jsonb),
               jsonb_build_object('day', %(day)s, 'team', true)
        FROM ({_WAITING_TEAM_WARNINGS}) w
        JOIN ({teams}) AS t(owner, head) ON t.owner = w.owner_id
        GROUP BY t.head
        """,
        params,
    )
    _items_link(
        f"""
        SELECT w.*, t.head FROM ({_WAITING_TEAM_WARNINGS}) w
        JOIN ({teams}) AS t(owner, head) ON t.owner = w.owner_id
        """,
        group="head",
        prefix="ladder:stream-team",
        mark="team_stream",
        item=_STREAM_ITEM,
        params=params,
    )
    return created


_STREAM_ITEM = """jsonb_build_array(id, entity_type_id, client_id, params->>'status',
                                     params->>'next', facts->>'clock_started',
                                     (facts->>'days')::int)"""


def _items_link(
    waiting_sql: str, *, group: str, prefix: str, mark: str, item: str, params: dict[str, Any]
) -> None:
    """Add waiting decisions to their reader's digest of the day, and name the digest on each.

    One statement links both ways, so an executor claiming the digest in between takes all the
    items or none. `group` is the waiting rows' column naming the reader (a manager, or the
    head of a team); the digest's key is `<prefix>:<reader>:<day>`; `item` is the JSON the
    digest lists per decision, and each decision records the digest's key under `mark`.
    """
    _execute(
        f"""
        WITH waiting AS ({waiting_sql}),
        grouped AS (
            SELECT {group} AS reader, '{prefix}:' || {group} || ':' || %(day)s AS key,
                   jsonb_agg({item} ORDER BY id) AS items
            FROM waiting GROUP BY {group}
        ),
        linked AS (
            UPDATE assistants_decision g
            SET params = jsonb_set(g.params, '{{items}}',
                                   COALESCE(g.params->'items', '[]'::jsonb) || gr.items)
            FROM grouped gr
            WHERE g.key = gr.key AND g.status = 'queued'
            RETURNING g.key, gr.reader
        )
        UPDATE assistants_decision i
        SET params = i.params || jsonb_build_object('{mark}', l.key)
        FROM waiting w JOIN linked l ON l.reader = w.{group}
        WHERE i.id = w.id
        """,
        params,
    )


# --- forgotten, released, deals --------------------------------------------------------------


def _scope_sql(scope: dict[str, Any], alias: str, params: dict[str, Any], prefix: str) -> str:
    """SQL conditions for a rule's scope: owners, deal pipelines/stages, user-field conditions."""
    parts = ["TRUE"]
    if scope.get("owners"):
        params[f"{prefix}_owners"] = scope["owners"]
        parts.append(f"{alias}.owner_id = ANY(%({prefix}_owners)s)")
    if scope.get("deal_categories"):
        params[f"{prefix}_categories"] = scope["deal_categories"]
        parts.append(
            f"({alias}.entity_type_id <> 2 OR {alias}.category_id = ANY(%({prefix}_categories)s))"
        )
    if scope.get("deal_stages"):
        params[f"{prefix}_stages"] = scope["deal_stages"]
        parts.append(
            f"({alias}.entity_type_id <> 2 OR {alias}.stage_id = ANY(%({prefix}_stages)s))"
        )
    for index, condition in enumerate(scope.get("conditions") or []):
        field = condition["field"]
        name = f"{prefix}_c{index}"
        value_sql = f"({alias}.uf->>'{field}')"
        op = condition["op"]
        value = condition.get("value")
        if op == "empty":
            parts.append(f"COALESCE({value_sql}, '') IN ('', 'false', '[]')")
        elif op == "not_empty":
            parts.append(f"COALESCE({value_sql}, '') NOT IN ('', 'false', '[]')")
        elif op in {"in", "not_in"}:
            params[name] = [str(v) for v in (value or [])]
            negate = "NOT " if op == "not_in" else ""
            parts.append(f"{negate}(COALESCE({value_sql}, '') = ANY(%({name})s))")
        else:
            params[name] = str(value)
            sql_op = {"eq": "=", "ne": "<>", "gt": ">", "lt": "<"}[op]
            parts.append(f"COALESCE({value_sql}, '') {sql_op} %({name})s")
    return " AND ".join(parts)


def _not_snoozed(alias: str) -> str:
    return f"""NOT EXISTS (SELECT 1 FROM assistants_clientsnooze z
                       WHERE z.entity_type_id = {alias}.entity_type_id
                         AND z.client_id = {alias}.client_id AND z.until >= %(as_of)s::date)"""


OPEN_TASKS_TABLE = "kw_open_task_decisions"


def open_task_decisions_build() -> None:
    """Clients that already have a reminder task in flight or still open (one per rule).

    Materialised once per pass with fresh statistics, so every rule's anti-join is a hash join
    instead of a nested loop over decisions written earlier in the same transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {OPEN_TASKS_TABLE}")
        cursor.execute(
            f"""
            CREATE TEMPORARY TABLE {OPEN_TASKS_TABLE} AS
            SELECT DISTINCT d.rule, d.entity_type_id, d.client_id
            FROM assistants_decision d
            LEFT JOIN crm_sync_task t ON t.id = (d.result->>'task_id')::bigint
            WHERE d.action IN ('create_task', 'digest_item')
              AND (d.status IN ('queued', 'executing', 'awaiting_approval')
                   OR (d.status = 'done' AND (t.id IS NULL OR t.status NOT IN (5, 7))))
            """
        )
        cursor.execute(f"CREATE INDEX ON {OPEN_TASKS_TABLE} (rule, entity_type_id, client_id)")
        cursor.execute(f"ANALYZE {OPEN_TASKS_TABLE}")


def _open_task_decision(alias: str, rule: str) -> str:
    """A reminder-task decision for this client whose task is not finished yet."""
    return f"""EXISTS (
        SELECT 1 FROM {OPEN_TASKS_TABLE} o
        WHERE o.rule = '{rule}' AND o.entity_type_id = {alias}.entity_type_id
          AND o.client_id = {alias}.client_id)"""


def forgotten_decisions(ctx: PassContext) -> int:
    """No qualifying activity for N days and nothing planned → one task for the owner.

    With `digest_task` a client's decision is a `digest_item`: it is not sent alone but waits
    for its owner's digest task of the day (forgotten_digests_plan), whose id it then records,
    so the open-task check and the released assistant read it like a task of its own.
    """
    rule = ctx.settings["forgotten"]
    if not rule["enabled"]:
        return 0
    digest = bool(rule.get("digest_task"))
    params = {**_base_params(ctx), "cutoff": ctx.calendar.cutoff(ctx.as_of, rule["days"])}
    scope = _scope_sql(rule["scope"], "f", params, "fg")
    entities = rule["scope"].get("entities") or ctx.settings["entities"]
    params["rule_entities"] = [ENTITY_TYPES[e] for e in entities if e != "deal"]
    params["days"] = rule["days"]
    params["deadline"] = ctx.as_of + timedelta(days=rule["task_days"])
    params["action"] = "digest_item" if digest else "create_task"
    inserted = _insert_decisions(
        ctx,
        f"""
        SELECT 'forgotten:' || f.entity_type_id || ':' || f.client_id || ':'
                   || COALESCE(to_char(f.last_activity_at, 'YYYYMMDDHH24MISS'), 'never') AS key,
               'forgotten', 'forgotten.client', f.entity_type_id, f.client_id, f.owner_id,
               %(action)s,
               jsonb_build_object('responsible_id', f.owner_id, 'deadline', %(deadline)s,
                                  'days', %(days)s),
               jsonb_build_object('last_activity_at', f.last_activity_at,
                                  'planned_until', f.planned_until, 'days', %(days)s,
                                  'checked', jsonb_build_array('planned_work', 'snooze',
                                                               'open_forgotten_task'))
        FROM {FACTS_TABLE} f
        WHERE f.entity_type_id = ANY(%(rule_entities)s) AND f.owner_id IS NOT NULL
          AND COALESCE(f.last_activity_at, f.created_at) < %(cutoff)s
          AND (f.planned_until IS NULL OR f.planned_until < %(as_of)s)
          AND {scope} AND {_not_snoozed("f")}
          AND NOT {_open_task_decision("f", "forgotten.client")}
        """,
        params,
    )
    if digest:
        forgotten_digests_plan(ctx)
    else:
        # Digest turned off: clients still waiting for a digest get a task of their own.
        _execute(
            f"""
            UPDATE assistants_decision i SET action = 'create_task'
            FROM ({_WAITING_ITEMS}) w WHERE i.id = w.id
            """,
            {},
        )
    return inserted


# Digest items not in a digest that is (or will be) on the portal: never linked, or linked to a
# digest that failed for good.
_WAITING_ITEMS = """
    SELECT i.id, i.entity_type_id, i.client_id, i.owner_id
    FROM assistants_decision i
    WHERE i.action = 'digest_item' AND i.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM assistants_decision g
                      WHERE g.key = i.params->>'digest' AND g.status <> 'failed')
"""


def portal_day(moment: datetime) -> str:
    """The date of `moment` in the current portal's time zone (digests are per portal day)."""
    from zoneinfo import ZoneInfo

    zone = getattr(getattr(connection, "tenant", None), "time_zone", "") or "Europe/Moscow"
    return moment.astimezone(ZoneInfo(zone)).date().isoformat()


def forgotten_digests_plan(ctx: PassContext) -> int:
    """At most one digest task per manager per portal day, listing the clients waiting for one.

    The key `forgotten:digest:<manager>:<day>` makes the day's digest unique. Waiting clients
    join their manager's digest of the day while it is still queued; once it has been sent,
    later clients wait for the next day's. Returns the number of digests created.
    """
    rule = ctx.settings["forgotten"]
    params = {
        **_base_params(ctx),
        "day": portal_day(ctx.as_of),
        "days": rule["days"],
        "deadline": ctx.as_of + timedelta(days=rule["task_days"]),
    }
    created = _insert_decisions(
        ctx,
        f"""
        SELECT 'forgotten:digest:' || w.owner_id || ':' || %(day)s,
               'forgotten', 'forgotten.digest', 0, w.owner_id, w.owner_id, 'create_task',
               jsonb_build_object('responsible_id', w.owner_id, 'deadline', %(deadline)s,
                                  'days', %(days)s, 'day', %(day)s, 'items', '[]'::jsonb),
               jsonb_build_object('days', %(days)s, 'day', %(day)s)
        FROM ({_WAITING_ITEMS}) w
        WHERE w.owner_id IS NOT NULL
        GROUP BY w.owner_id
        """,
        params,
    )
    # Each digest lists its items as [decision id, entity type, client id]; each item names its
    # digest.
    _items_link(
        f"SELECT * FROM ({_WAITING_ITEMS}) w WHERE w.owner_id IS NOT NULL",
        group="owner_id",
        prefix="forgotten:digest",
        mark="digest",
        item="jsonb_build_array(id, entity_type_id, client_id)",
        params=params,
    )
    return created


def deal_decisions(ctx: PassContext) -> int:
    """A deal untouched for N days with nothing planned (seed 000) → a task for its owner."""
    rule = ctx.settings["deals"]
    if not rule["enabled"]:
        return 0
    params = {**_base_params(ctx), "cutoff": ctx.calendar.cutoff(ctx.as_of, rule["days"])}
    scope = _scope_sql(rule["scope"], "f", params, "dl")
    params["days"] = rule["days"]
    params["deadline"] = ctx.as_of + timedelta(days=ctx.settings["forgotten"]["task_days"])
    return _insert_decisions(
        ctx,
        f"""
        SELECT 'deal:' || f.client_id || ':'
                   || COALESCE(to_char(f.last_activity_at, 'YYYYMMDDHH24MISS'), 'never') AS key,
               'deals', 'deals.untouched', 2, f.client_id, f.owner_id, 'create_task',
               jsonb_build_object('responsible_id', f.owner_id, 'deadline', %(deadline)s,
                                  'days', %(days)s),
               jsonb_build_object('last_activity_at', f.last_activity_at,
                                  'planned_until', f.planned_until, 'days', %(days)s)
        FROM {FACTS_TABLE} f
        WHERE f.entity_type_id = 2 AND f.owner_id IS NOT NULL
          AND COALESCE(f.last_activity_at, f.created_at) < %(cutoff)s
          AND (f.planned_until IS NULL OR f.planned_until < %(as_of)s)
          AND {scope} AND {_not_snoozed("f")}
          AND NOT {_open_task_decision("f", "deals.untouched")}
        """,
        params,
    )


def released_decisions(ctx: PassContext) -> int:
    """Forgotten task overdue M days, still no activity, nothing planned → a new owner.

    Owners on leave (in Keepwarm's list or the portal's absence chart) are left alone; new owners
    are active, present, under their cap.
    """
    rule = ctx.settings["released"]
    if not rule["enabled"]:
        return 0
    params = {
        **_base_params(ctx),
        "overdue_cutoff": ctx.calendar.cutoff(ctx.as_of, rule["days_overdue"]),
        "handover": json.dumps(rule["handover"]),
        "move_deals": rule["move_deals"],
        "move_tasks": rule["move_tasks"],
        "move_contacts": rule.get("move_contacts", True),
        "away_on": ctx.as_of,
    }
    released_scope = rule.get("scope") or {}
    scope = _scope_sql(released_scope, "f", params, "rl")
    if released_scope.get("entities"):
        params["rl_entities"] = [ENTITY_TYPES[name] for name in released_scope["entities"]]
        scope += " AND f.entity_type_id = ANY(%(rl_entities)s)"
    status = "queued"
    candidates = f"""
        SELECT d.id AS forgotten_id, f.entity_type_id, f.client_id, f.owner_id,
               t.id AS task_id, t.deadline, f.last_activity_at
        FROM assistants_decision d
        JOIN crm_sync_task t ON t.id = (d.result->>'task_id')::bigint
        JOIN {FACTS_TABLE} f ON f.entity_type_id = d.entity_type_id AND f.client_id = d.client_id
        WHERE d.rule = 'forgotten.client' AND d.status = 'done'
          AND t.status NOT IN (5, 7) AND t.deadline < %(overdue_cutoff)s
          AND (f.last_activity_at IS NULL OR f.last_activity_at < d.executed_at)
          AND (f.planned_until IS NULL OR f.planned_until < %(as_of)s)
          AND f.owner_id = d.owner_id AND {scope}
          AND {_not_snoozed("f")}
          AND NOT EXISTS (SELECT 1 FROM ({AWAY_USERS_SQL}) away
                          WHERE away.user_id = f.owner_id)
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({candidates}) c", params)
        planned = cursor.fetchone()[0]
    if planned > ctx.settings["safety"]["mass_reassign_threshold"]:
        status = "awaiting_approval"  # a mass hand-over waits for an approved preview
    return _insert_decisions(
        ctx,
        f"""
        SELECT 'released:' || c.entity_type_id || ':' || c.client_id || ':' || c.forgotten_id,
               'released', 'released.overdue_task', c.entity_type_id, c.client_id, c.owner_id,
               'reassign',
               jsonb_build_object('from', c.owner_id, 'handover', %(handover)s::jsonb,
                                  'move_deals', %(move_deals)s, 'move_tasks', %(move_tasks)s,
                                  'move_contacts', %(move_contacts)s),
               jsonb_build_object('forgotten_decision', c.forgotten_id, 'task_id', c.task_id,
                                  'task_deadline', c.deadline,
                                  'last_activity_at', c.last_activity_at)
        FROM ({candidates}) c
        """,
        params,
        status=status,
    )


# --- re-indexing the ladder (seed 001: "index the statuses" after a bulk import) ----------------

REINDEX_TABLE = "kw_reindex"


def ladder_statuses_reindex(
    *, as_of: datetime, entities: list[int], reason: str, skip_note: str
) -> dict[str, int]:
    """Take in every client's status as Bitrix24 holds it now, each changed one with a fresh clock.

    A pass treats a raise without a recent call as a manager's mistake and reverts it; after a
    bulk import of statuses (seed 001: Excel, then "index the statuses") the portal's values
    are the truth instead. So here every client whose status differs from what Keepwarm knows
    is taken in as it is, without the raise check; ladder decisions still waiting in the outbox
    for those clients are skipped (they were planned from the old statuses), and each client's
    history says why. Clients whose status did not change keep their clocks: day limits are
    read afresh on every pass, so a settings change needs no re-index.
    """
    params = {"as_of": as_of, "entities": entities, "reason": reason, "skip_note": skip_note}
    _execute(f"DROP TABLE IF EXISTS {REINDEX_TABLE}", {})
    _execute(
        f"""
        CREATE TEMPORARY TABLE {REINDEX_TABLE} AS
        SELECT r.et, r.cid, r.value, v.code, cs.status AS old_status
        FROM (
            SELECT 3 AS et, id AS cid, COALESCE(uf->>'{STATUS_FIELD}', '') AS value
            FROM crm_sync_contact
            UNION ALL
            SELECT 4, id, COALESCE(uf->>'{STATUS_FIELD}', '')
            FROM crm_sync_company WHERE NOT is_my_company
        ) r
        LEFT JOIN ({_status_values_sql()}) v ON v.et = r.et AND v.value = r.value
        LEFT JOIN assistants_clientstate cs ON cs.entity_type_id = r.et AND cs.client_id = r.cid
        WHERE r.et = ANY(%(entities)s) AND (v.code IS NOT NULL OR r.value = '')
          AND (CASE WHEN cs.client_id IS NULL
                    THEN v.code IS NOT NULL AND v.code <> 'empty'
                    ELSE r.value <> cs.bitrix_value END)
        """,
        params,
    )
    counts = {}
    counts["taken_in"] = _execute(
        f"""
        INSERT INTO assistants_clientstate
            (entity_type_id, client_id, status, status_since, bitrix_value, updated_at)
        SELECT r.et, r.cid, r.code, %(as_of)s, r.value, %(as_of)s
        FROM {REINDEX_TABLE} r
        WHERE r.code IS NOT NULL AND r.code <> 'empty'
        ON CONFLICT (entity_type_id, client_id) DO UPDATE
        SET status = EXCLUDED.status, status_since = EXCLUDED.status_since,
            bitrix_value = EXCLUDED.bitrix_value, updated_at = EXCLUDED.updated_at
        """,
        params,
    )
    counts["cleared"] = _states_clear(REINDEX_TABLE)
    counts["skipped"] = _execute(
        f"""
        UPDATE assistants_decision d SET status = 'skipped', last_error = %(skip_note)s
        FROM {REINDEX_TABLE} r
        WHERE d.entity_type_id = r.et AND d.client_id = r.cid AND d.assistant = 'ladder'
          AND d.status IN ('queued', 'awaiting_approval')
        """,
        params,
    )
    _execute(
        f"""
        INSERT INTO assistants_clientevent
            (entity_type_id, client_id, created_at, kind, detail, reason)
        SELECT r.et, r.cid, %(as_of)s, 'status_reindexed',
               jsonb_build_object('from', r.old_status,
                                  'to', CASE WHEN r.code = 'empty' OR r.value = '' THEN NULL
                                             ELSE r.code END),
               %(reason)s
        FROM {REINDEX_TABLE} r
        """,
        params,
    )
    _execute(f"DROP TABLE {REINDEX_TABLE}", {})
    return counts
