"""The outbox executor: performs queued decisions in Bitrix24, each exactly once.

A decision is claimed (SELECT … FOR UPDATE SKIP LOCKED, so two executors never take the same one),
marked `executing` and committed before anything is sent; up to 50 decisions go out in one batch
request under the portal's rate limit. When the portal answers, the created object's id and the
decision's effects (client state, history, follow-up decisions) are stored in the same
transaction that marks it `done`.

A crash between sending and storing leaves decisions in `executing`. Before such a decision is
sent again, Bitrix24 is asked whether its effect already exists, by the marker every created
object carries (`KW-<decision id>` in a task title or timeline post, the TAG of a notification);
updates (status, owner) are idempotent by nature.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from assistants.messages import (
    decision_reason,
    names_for,
    notification_text,
    task_title,
)
from assistants.models import ClientEvent, ClientState, Decision
from assistants.rules import STATUS_FIELD
from assistants.selectors import assistant_settings_current
from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.bitrix.errors import BitrixError
from crm_sync.selectors import department_heads, status_enum_values

logger = logging.getLogger(__name__)

ENTITY_METHODS = {3: "crm.contact.update", 4: "crm.company.update", 2: "crm.deal.update"}
TIMELINE_TYPES = {3: "contact", 4: "company", 2: "deal"}
BINDING_PREFIX = {3: "C", 4: "CO", 2: "D"}
MAX_ATTEMPTS = 8


@dataclass
class ExecutionResult:
    done: int = 0
    failed: int = 0
    retried: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    portal: object
    settings: dict
    language: str
    enum_values: dict
    names: dict
    org: object
    now: datetime


def _claim(limit: int, *, actions: Iterable[str]) -> list[Decision]:
    with transaction.atomic():
        claimed = list(
            Decision.objects.select_for_update(skip_locked=True)
            .filter(status=Decision.Status.QUEUED, action__in=list(actions))
            .order_by("id")[:limit]
        )
        for decision in claimed:
            decision.status = Decision.Status.EXECUTING
            decision.attempts += 1
        Decision.objects.bulk_update(claimed, ["status", "attempts"])
    return claimed


def _commands(decision: Decision, ctx: _Context) -> dict[str, tuple[str, dict]]:
    """The Bitrix24 calls that carry out one decision (keys unique within a batch)."""
    key = f"d{decision.pk}"
    params = decision.params
    name = ctx.names.get((decision.entity_type_id, decision.client_id), f"#{decision.client_id}")
    commands: dict[str, tuple[str, dict]] = {}
    if decision.action == "set_status":
        value = ctx.enum_values.get(decision.entity_type_id, {}).get(params["to"])
        if value is None:
            raise LookupError(f"status {params['to']!r} has no value in the portal's field")
        commands[key] = (
            ENTITY_METHODS[decision.entity_type_id],
            {"id": decision.client_id, "fields": {STATUS_FIELD: value}},
        )
    elif decision.action == "create_task":
        deadline = params.get("deadline")
        commands[key] = (
            "tasks.task.add",
            {
                "fields": {
                    "TITLE": task_title(decision, ctx.settings, name),
                    "DESCRIPTION": decision_reason(decision, ctx.settings, ctx.language),
                    "RESPONSIBLE_ID": params["responsible_id"],
                    "DEADLINE": deadline,
                    "UF_CRM_TASK": [
                        f"{BINDING_PREFIX[decision.entity_type_id]}_{decision.client_id}"
                    ],
                }
            },
        )
    elif decision.action == "reassign":
        fields = {"OPENED": "Y"} if params.get("open") else {"ASSIGNED_BY_ID": params["to"]}
        commands[key] = (
            ENTITY_METHODS[decision.entity_type_id],
            {"id": decision.client_id, "fields": fields},
        )
        if params.get("move_deals") and not params.get("open"):
            for deal_id in params.get("deal_ids", []):
                commands[f"{key}_deal{deal_id}"] = (
                    "crm.deal.update",
                    {"id": deal_id, "fields": {"ASSIGNED_BY_ID": params["to"]}},
                )
        if params.get("move_tasks") and not params.get("open"):
            for task_id in params.get("task_ids", []):
                commands[f"{key}_task{task_id}"] = (
                    "tasks.task.update",
                    {"taskId": task_id, "fields": {"RESPONSIBLE_ID": params["to"]}},
                )
    elif decision.action == "notify":
        recipient = _recipient(decision, ctx)
        if recipient is None:
            raise LookupError("nobody to notify (no owner or no supervisor)")
        text = notification_text(decision, ctx.settings, ctx.portal.domain, name, ctx.language)
        commands[key] = (
            "im.notify.system.add",
            {"USER_ID": recipient, "MESSAGE": text, "TAG": f"keepwarm|{decision.key}"[:255]},
        )
    else:
        raise LookupError(f"unknown action {decision.action!r}")
    if (
        ctx.settings["notifications"]["timeline_posts"]
        and not params.get("timeline_posted")
        and decision.action in {"set_status", "reassign", "create_task"}
        and decision.entity_type_id in TIMELINE_TYPES
    ):
        commands[f"{key}_timeline"] = (
            "crm.timeline.comment.add",
            {
                "fields": {
                    "ENTITY_ID": decision.client_id,
                    "ENTITY_TYPE": TIMELINE_TYPES[decision.entity_type_id],
                    "COMMENT": f"Keepwarm: {decision_reason(decision, ctx.settings, ctx.language)}"
                    f" (KW-{decision.pk})",
                }
            },
        )
    return commands


def _recipient(decision: Decision, ctx: _Context) -> int | None:
    target = decision.params.get("to", "owner")
    if target == "owner":
        return decision.owner_id
    if target == "supervisor":
        return ctx.org.supervisor_of(decision.owner_id)
    return int(target) if str(target).isdigit() else None


def _context(portal, now: datetime, decisions: list[Decision]) -> _Context:
    current = assistant_settings_current()
    return _Context(
        portal=portal,
        settings=current.document,
        language=getattr(portal, "language", "ru") or "ru",
        enum_values=status_enum_values(STATUS_FIELD),
        names=names_for(decisions),
        org=department_heads(),
        now=now,
    )


def outbox_execute(*, portal, now: datetime | None = None, limit: int = 1000) -> ExecutionResult:
    """Perform queued decisions (not notifications, which wait for the digest)."""
    now = now or timezone.now()
    result = ExecutionResult()
    client = BitrixClient.for_portal(portal)
    result.recovered = _recover(client, portal, now)
    actions = ("set_status", "create_task", "reassign")
    while result.done + result.failed < limit:
        batch = _claim(min(MAX_BATCH, limit), actions=actions)
        if not batch:
            break
        ctx = _context(portal, now, batch)
        _send(client, batch, ctx, result)
    return result


def notifications_send(*, portal, now: datetime | None = None) -> ExecutionResult:
    """Send queued notifications: one digest per recipient when the portal combines them."""
    now = now or timezone.now()
    result = ExecutionResult()
    client = BitrixClient.for_portal(portal)
    while True:
        # The whole day's notifications at once: a digest is one message per recipient (seed
        # 001: "only once a day"), not one per 50 decisions.
        claimed = _claim(DIGEST_CLAIM, actions=("notify",))
        if not claimed:
            break
        ctx = _context(portal, now, claimed)
        if ctx.settings["notifications"]["combine"]:
            _send_digests(client, claimed, ctx, result)
        else:
            for start in range(0, len(claimed), MAX_BATCH):
                _send(client, claimed[start : start + MAX_BATCH], ctx, result)
    return result


DIGEST_CLAIM = 10_000
DIGEST_LINES = 40  # a digest lists this many items, then says how many more there are


def _send(client: BitrixClient, batch: list[Decision], ctx: _Context, result: ExecutionResult):
    commands: dict[str, tuple[str, dict]] = {}
    owners: dict[str, Decision] = {}
    for decision in batch:
        try:
            own = _commands(decision, ctx)
        except LookupError as exc:
            _finish(decision, ok=False, error=str(exc), result=result, terminal=True)
            continue
        if len(commands) + len(own) > MAX_BATCH:  # keep this one for the next batch
            Decision.objects.filter(pk=decision.pk).update(status=Decision.Status.QUEUED)
            continue
        commands.update(own)
        for key in own:
            owners[key] = decision
    if not commands:
        return
    try:
        answer = client.batch(commands)
    except BitrixError as exc:
        for decision in {d.pk: d for d in owners.values()}.values():
            _finish(decision, ok=False, error=str(exc), result=result, terminal=not exc.retryable)
        return
    for decision in {d.pk: d for d in owners.values()}.values():
        main = f"d{decision.pk}"
        if main in answer.errors:
            error = answer.errors[main]
            _finish(
                decision, ok=False, error=str(error), result=result, terminal=not error.retryable
            )
            continue
        _finish(
            decision,
            ok=True,
            result=result,
            payload=_payload(decision, answer.results.get(main)),
            ctx=ctx,
        )


def _send_digests(client: BitrixClient, batch: list[Decision], ctx: _Context, result):
    """One message per recipient listing every item; the TAG makes a resend replace it."""
    by_recipient: dict[int, list[Decision]] = {}
    for decision in batch:
        recipient = _recipient(decision, ctx)
        if recipient is None:
            _finish(decision, ok=False, error="nobody to notify", result=result, terminal=True)
            continue
        by_recipient.setdefault(recipient, []).append(decision)
    commands = {}
    for recipient, items in by_recipient.items():
        lines = [
            "• "
            + notification_text(
                d,
                ctx.settings,
                ctx.portal.domain,
                ctx.names.get((d.entity_type_id, d.client_id), ""),
                ctx.language,
            )
            for d in items[:DIGEST_LINES]
        ]
        if len(items) > DIGEST_LINES:
            more = len(items) - DIGEST_LINES
            lines.append(f"… и ещё {more}" if ctx.language == "ru" else f"… and {more} more")
        header = "Keepwarm:" if ctx.language != "ru" else "Keepwarm, сводка:"
        commands[f"u{recipient}"] = (
            "im.notify.system.add",
            {
                "USER_ID": recipient,
                "MESSAGE": "\n".join([header, *lines])[:19000],
                "TAG": f"keepwarm|digest|{recipient}|{items[0].pk}",
            },
        )
    recipients = list(commands)
    for start in range(0, len(recipients), MAX_BATCH):
        chunk = recipients[start : start + MAX_BATCH]
        _digests_deliver(
            client,
            {key: commands[key] for key in chunk},
            {key: by_recipient[int(key[1:])] for key in chunk},
            ctx,
            result,
        )


def _digests_deliver(client: BitrixClient, commands: dict, items_by_key: dict, ctx, result):
    try:
        answer = client.batch(commands)
    except BitrixError as exc:
        for items in items_by_key.values():
            for decision in items:
                _finish(
                    decision, ok=False, error=str(exc), result=result, terminal=not exc.retryable
                )
        return
    for key, items in items_by_key.items():
        for decision in items:
            if key in answer.errors:
                error = answer.errors[key]
                _finish(
                    decision,
                    ok=False,
                    error=str(error),
                    result=result,
                    terminal=not error.retryable,
                )
            else:
                _finish(
                    decision,
                    ok=True,
                    result=result,
                    payload={"notification_id": answer.results.get(key), "digest": key},
                    ctx=ctx,
                )


def _payload(decision: Decision, answer) -> dict:
    if decision.action == "create_task":
        task = (answer or {}).get("task", answer) if isinstance(answer, dict) else {}
        return {"task_id": int((task or {}).get("id"))}
    if decision.action == "reassign":
        return {
            "previous_owner": decision.params.get("from"),
            "new_owner": decision.params.get("to"),
        }
    if decision.action == "set_status":
        return {"previous_status": decision.params.get("from"), "status": decision.params.get("to")}
    return {"answer": answer}


def _finish(decision, *, ok, result, error: str = "", payload=None, terminal=False, ctx=None):
    """Mark a decision done (with its effects, in one transaction) or failed/retry."""
    with transaction.atomic():
        if ok:
            Decision.objects.filter(pk=decision.pk).update(
                status=Decision.Status.DONE,
                result=payload or {},
                executed_at=timezone.now(),
                last_error="",
            )
            decision.result = payload or {}
            if ctx is not None:
                _effects(decision, ctx)
            result.done += 1
            return
        give_up = terminal or decision.attempts >= MAX_ATTEMPTS
        Decision.objects.filter(pk=decision.pk).update(
            status=Decision.Status.FAILED if give_up else Decision.Status.QUEUED,
            last_error=error[:2000],
        )
        if give_up:
            result.failed += 1
        else:
            result.retried += 1
        result.errors.append(f"{decision.rule} {decision.client_id}: {error}"[:300])


def _effects(decision: Decision, ctx: _Context) -> None:
    """Client state, history and follow-ups of a done decision (in the caller's transaction)."""
    from assistants.services import followups_create

    reason = decision_reason(decision, ctx.settings, ctx.language)
    params = decision.params
    if decision.action == "set_status":
        value = ctx.enum_values.get(decision.entity_type_id, {}).get(params["to"], "")
        ClientState.objects.update_or_create(
            entity_type_id=decision.entity_type_id,
            client_id=decision.client_id,
            defaults={"status": params["to"], "status_since": ctx.now, "bitrix_value": value},
        )
        kind = "status_reverted" if params.get("revert") else "status_changed"
        ClientEvent.objects.create(
            entity_type_id=decision.entity_type_id,
            client_id=decision.client_id,
            kind=kind,
            detail={"from": params.get("from"), "to": params["to"]},
            reason=reason,
            decision=decision,
        )
    elif decision.action == "create_task":
        ClientEvent.objects.create(
            entity_type_id=decision.entity_type_id,
            client_id=decision.client_id,
            kind="task_created",
            detail=decision.result,
            reason=reason,
            decision=decision,
        )
    elif decision.action == "reassign":
        ClientEvent.objects.create(
            entity_type_id=decision.entity_type_id,
            client_id=decision.client_id,
            kind="opened" if params.get("open") else "reassigned",
            detail={"from": params.get("from"), "to": params.get("to")},
            reason=reason,
            decision=decision,
        )
    followups_create(decision=decision, settings=ctx.settings)


def _recover(client: BitrixClient, portal, now: datetime) -> int:
    """Decisions left `executing` by a crash: find their effect in Bitrix24 or send again."""
    stuck = list(Decision.objects.filter(status=Decision.Status.EXECUTING).order_by("id")[:500])
    if not stuck:
        return 0
    ctx = _context(portal, now, stuck)
    recovered = 0
    tasks = [d for d in stuck if d.action == "create_task"]
    found: dict[int, int] = {}
    for start in range(0, len(tasks), MAX_BATCH):
        chunk = tasks[start : start + MAX_BATCH]
        answer = client.batch(
            {
                f"t{d.pk}": (
                    "tasks.task.list",
                    {"select": ["ID"], "filter": {"%TITLE": f"(KW-{d.pk})"}},
                )
                for d in chunk
            }
        )
        for decision in chunk:
            rows = answer.results.get(f"t{decision.pk}") or {}
            rows = rows.get("tasks", rows) if isinstance(rows, dict) else rows
            for row in rows or []:
                task_id = row.get("id") or row.get("ID")
                if task_id:
                    found[decision.pk] = int(task_id)
    posted = _timeline_posts_found(client, stuck, ctx)
    for decision in stuck:
        if decision.pk in posted:
            decision.params = {**decision.params, "timeline_posted": True}
            Decision.objects.filter(pk=decision.pk).update(params=decision.params)
        if decision.pk in found:
            _finish(
                decision,
                ok=True,
                result=ExecutionResult(),
                payload={"task_id": found[decision.pk], "recovered": True},
                ctx=ctx,
            )
        else:
            # Not created (tasks), or idempotent (status, owner, notification TAG): send again.
            Decision.objects.filter(pk=decision.pk).update(status=Decision.Status.QUEUED)
        recovered += 1
    return recovered


def _timeline_posts_found(client: BitrixClient, stuck: list[Decision], ctx: _Context) -> set[int]:
    """Stuck decisions whose timeline post (marked `KW-<id>`) is already on the record."""
    if not ctx.settings["notifications"]["timeline_posts"]:
        return set()
    candidates = [
        d
        for d in stuck
        if d.action in {"set_status", "reassign", "create_task"}
        and d.entity_type_id in TIMELINE_TYPES
    ]
    found: set[int] = set()
    for start in range(0, len(candidates), MAX_BATCH):
        chunk = candidates[start : start + MAX_BATCH]
        answer = client.batch(
            {
                f"c{d.pk}": (
                    "crm.timeline.comment.list",
                    {
                        "select": ["ID", "COMMENT"],
                        "filter": {
                            "ENTITY_ID": d.client_id,
                            "ENTITY_TYPE": TIMELINE_TYPES[d.entity_type_id],
                        },
                    },
                )
                for d in chunk
            }
        )
        for decision in chunk:
            rows = answer.results.get(f"c{decision.pk}") or []
            if any(f"(KW-{decision.pk})" in str(row.get("COMMENT", "")) for row in rows):
                found.add(decision.pk)
    return found
