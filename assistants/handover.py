"""Who receives a released or lost client: named person, supervisor, pool, or round robin.

Runs over the hand-over decisions of one pass (not over the portal): it reads the department
tree, who is active and who is away (Keepwarm's list and the portal's absence chart) and every
manager's current load in a few queries, then fills in `params.to` (or skips the decision,
saying why).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import connection

from assistants.models import Decision
from assistants.selectors import users_away
from crm_sync.selectors import active_users_by_department, department_heads


def _loads() -> dict[int, int]:
    """How many contacts and companies each manager owns now."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT owner, count(*) FROM (
                SELECT assigned_by_id AS owner FROM crm_sync_contact
                UNION ALL SELECT assigned_by_id FROM crm_sync_company
            ) o WHERE owner IS NOT NULL GROUP BY owner
            """
        )
        return dict(cursor.fetchall())


def _open_work(decisions: list[Decision]) -> tuple[dict, dict]:
    """Open deals and open tasks of each client that its current owner holds."""
    keys = [(d.entity_type_id, d.client_id, d.owner_id or 0) for d in decisions]
    columns = [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]]
    deals: dict[tuple[int, int], list[int]] = defaultdict(list)
    tasks: dict[tuple[int, int], list[int]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT k.et, k.cid, d.id
            FROM unnest(%s::int[], %s::bigint[], %s::bigint[]) AS k(et, cid, owner)
            JOIN crm_sync_deal d ON d.assigned_by_id = k.owner AND d.stage_semantic = 'P'
                AND NOT d.closed
                AND ((k.et = 3 AND d.contact_id = k.cid) OR (k.et = 4 AND d.company_id = k.cid))
            """,
            columns,
        )
        for et, cid, deal_id in cursor.fetchall():
            deals[(et, cid)].append(deal_id)
        cursor.execute(
            """
            SELECT k.et, k.cid, t.id
            FROM unnest(%s::int[], %s::bigint[], %s::bigint[]) AS k(et, cid, owner)
            JOIN crm_sync_task t ON t.responsible_id = k.owner AND t.status NOT IN (5, 7)
                AND (CASE k.et WHEN 3 THEN 'C_' ELSE 'CO_' END || k.cid) = ANY(t.crm_bindings)
            -- A digest task reminds of several clients: it stays with the manager.
            WHERE NOT EXISTS (
                SELECT 1 FROM assistants_decision g
                WHERE g.rule = 'forgotten.digest' AND g.status = 'done'
                  AND (g.result->>'task_id')::bigint = t.id)
            """,
            columns,
        )
        for et, cid, task_id in cursor.fetchall():
            tasks[(et, cid)].append(task_id)
    return deals, tasks


def handover_targets_assign(*, decisions: list[Decision], as_of: datetime) -> int:
    """Fill in the new owner (and the deals and tasks that move) of hand-over decisions."""
    decisions = [d for d in decisions if d.action == "reassign" and "to" not in d.params]
    if not decisions:
        return 0
    away = users_away(as_of=as_of)  # Keepwarm's list and the Bitrix24 absence chart
    members = active_users_by_department()  # {department: [user ids]}
    heads = department_heads()  # {department: head id}, {user: [departments]} inside
    loads = _loads()
    cursor_by_department: dict[int, int] = defaultdict(int)
    open_deals, open_tasks = _open_work(decisions)
    changed = []
    for decision in decisions:
        handover = decision.params.get("handover") or {}
        policy = handover.get("policy", "none")
        owner = decision.owner_id
        target = None
        reason = ""
        if policy in {"named", "pool"}:
            target = handover.get("user_id")
        elif policy == "supervisor":
            target = heads.supervisor_of(owner)
        elif policy == "round_robin":
            cap = handover.get("cap_per_manager")
            departments = heads.departments_of(owner)
            pool = sorted(
                {
                    user
                    for department in departments
                    for user in members.get(department, [])
                    if user != owner and user not in away and (not cap or loads.get(user, 0) < cap)
                }
            )
            if pool:
                pool.sort(key=lambda user: (loads.get(user, 0), user))
                index = cursor_by_department[departments[0]] % len(pool)
                cursor_by_department[departments[0]] += 1
                target = pool[index]
        elif policy == "open":
            decision.params = {**decision.params, "open": True, "to": None}
            changed.append(decision)
            continue
        if target in away:
            target, reason = None, "the chosen manager is away"
        if not target or target == owner:
            decision.status = Decision.Status.SKIPPED
            decision.last_error = reason or f"no eligible manager for policy {policy!r}"
        else:
            client = (decision.entity_type_id, decision.client_id)
            decision.params = {
                **decision.params,
                "to": int(target),
                "deal_ids": open_deals.get(client, []),
                "task_ids": open_tasks.get(client, []),
            }
            loads[int(target)] = loads.get(int(target), 0) + 1
        changed.append(decision)
    Decision.objects.bulk_update(changed, ["params", "status", "last_error"])
    return len(changed)
