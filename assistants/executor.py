"""The outbox executor: performs queued decisions in Bitrix24, each exactly once.

A decision is claimed (SELECT … FOR UPDATE SKIP LOCKED, so two executors never take the same one),
marked `executing` and committed before anything is sent; up to 50 decisions go out in one batch
request under the portal's rate limit. When the portal answers, one transaction stores what the
whole batch did: the created objects' ids with the `done` status, the client states, history rows
and follow-up decisions, each written by one set-based statement for the batch.

A crash between sending and storing leaves decisions in `executing`. Before such a decision is
sent again, Bitrix24 is asked whether its effect already exists, by the marker every created
object carries (`KW-<decision id>` in a task title, a timeline post or an activity stream post's
title, the TAG of a notification); updates (status, owner) are idempotent by nature.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from assistants.messages import (
    decision_reason,
    digest_item_reason,
    digest_task_description,
    digest_task_title,
    names_for,
    notification_text,
    stream_post_message,
    stream_post_title,
    stream_skip_reason,
    task_title,
)
from assistants.models import ClientEvent, ClientState, Decision
from assistants.rules import STATUS_FIELD
from assistants.selectors import assistant_settings_current
from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.bitrix.errors import BitrixError
from crm_sync.selectors import department_heads, status_enum_values
from crm_sync.services import mirror_user_fields_written
from tenants.selectors import portal_granted_scopes

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
    skipped: int = 0
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
    elif decision.action == "create_task" and decision.rule == DIGEST_RULE:
        items = params.get("items", [])
        if not items:
            raise LookupError("a digest task with no clients")
        commands[key] = (
            "tasks.task.add",
            {
                "fields": {
                    "TITLE": digest_task_title(decision, ctx.language),
                    "DESCRIPTION": digest_task_description(
                        decision,
                        ctx.settings,
                        ctx.portal.domain,
                        ctx.names,
                        ctx.language,
                        DIGEST_LINES,
                    ),
                    "RESPONSIBLE_ID": params["responsible_id"],
                    "DEADLINE": params.get("deadline"),
                    "UF_CRM_TASK": [
                        f"{BINDING_PREFIX[et]}_{cid}" for _id, et, cid in items[:DIGEST_BINDINGS]
                    ],
                }
            },
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
        if params.get("move_contacts") and not params.get("open"):
            for contact_id in params.get("contact_ids", []):
                commands[f"{key}_contact{contact_id}"] = (
                    "crm.contact.update",
                    {"id": contact_id, "fields": {"ASSIGNED_BY_ID": params["to"]}},
                )
        if params.get("move_tasks") and not params.get("open"):
            for task_id in params.get("task_ids", []):
                commands[f"{key}_task{task_id}"] = (
                    "tasks.task.update",
                    {"taskId": task_id, "fields": {"RESPONSIBLE_ID": params["to"]}},
                )
    elif decision.action == "stream_post":
        recipient = _recipient(decision, ctx)
        if recipient is None or not params.get("items"):
            raise LookupError("an activity stream post with nobody to address or no clients")
        commands[key] = (
            "log.blogpost.add",
            {
                "POST_TITLE": stream_post_title(decision, ctx.language),
                "POST_MESSAGE": stream_post_message(
                    decision,
                    ctx.settings,
                    ctx.portal.domain,
                    ctx.names,
                    ctx.language,
                    DIGEST_LINES,
                )[:STREAM_POST_CHARS],
                "DEST": [f"U{recipient}"],  # that manager only, not the whole company
            },
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
    """Send queued notifications: one digest per recipient when the portal combines them.

    The day's activity stream posts (notifications.stream_digest) go first, in the same run.
    """
    now = now or timezone.now()
    result = ExecutionResult()
    client = BitrixClient.for_portal(portal)
    _stream_posts_send(client, portal, now, result)
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


def _stream_posts_send(client: BitrixClient, portal, now: datetime, result: ExecutionResult):
    """Post the planned activity stream digests, or skip them with the reason on each.

    A portal that did not grant the `log` scope is not asked at all: the posts are skipped
    with a reason the portal's admin can act on, and the warnings still go out as notifications
    (they are decisions of their own).
    """
    while True:
        claimed = _claim(MAX_BATCH, actions=("stream_post",))
        if not claimed:
            return
        ctx = _context(portal, now, claimed)
        why = ""
        if not ctx.settings["notifications"]["stream_digest"]:
            why = "off"
        elif STREAM_SCOPE not in portal_granted_scopes(portal_id=portal.pk):
            why = "no_scope"
        if why:
            _stream_posts_skip(claimed, why, ctx, result)
            continue
        empty = _stream_items_current(claimed)
        _stream_posts_skip(empty, "nothing", ctx, result)
        _send(client, [d for d in claimed if d not in empty], ctx, result)


def _stream_posts_skip(decisions: list[Decision], why: str, ctx: _Context, result) -> None:
    """Skip posts with the reason's code in the result (the explanation renders it in the
    reader's language) and the portal's own wording in last_error, for the log."""
    if not decisions:
        return
    Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(
        status=Decision.Status.SKIPPED,
        result={"skipped": why},
        last_error=stream_skip_reason(why, ctx.language),
    )
    result.skipped += len(decisions)


def _stream_items_current(posts: list[Decision]) -> list[Decision]:
    """Drop the items whose warning was skipped since it was planned (a status re-index took
    the client in as set): the post lists only clients still about to change. Returns the
    posts left with nothing to list."""
    ids = {item[0] for post in posts for item in post.params.get("items", [])}
    gone = set(
        Decision.objects.filter(pk__in=ids, status=Decision.Status.SKIPPED).values_list(
            "pk", flat=True
        )
    )
    if not gone:
        return []
    changed = [p for p in posts if any(item[0] in gone for item in p.params.get("items", []))]
    for post in changed:
        items = [item for item in post.params["items"] if item[0] not in gone]
        post.params = {**post.params, "items": items}
    Decision.objects.bulk_update(changed, ["params"])
    return [post for post in changed if not post.params["items"]]


STREAM_SCOPE = "log"
# Bitrix24 documents no length limit for POST_MESSAGE; DIGEST_LINES lines stay far below this.
STREAM_POST_CHARS = 60_000
DIGEST_CLAIM = 10_000
DIGEST_RULE = "forgotten.digest"
# A digest task is bound to this many of its clients; the description lists DIGEST_LINES of them.
# Bitrix24 documents no limit for UF_CRM_TASK; a task card with more bindings is unreadable.
DIGEST_BINDINGS = 50
DIGEST_LINES = 40  # a digest lists this many items, then says how many more there are


def _send(client: BitrixClient, batch: list[Decision], ctx: _Context, result: ExecutionResult):
    """One batch request for up to 50 commands, then one transaction recording what it did."""
    commands: dict[str, tuple[str, dict]] = {}
    owners: dict[str, Decision] = {}
    unsendable: list[_Outcome] = []
    deferred: list[int] = []
    for decision in batch:
        try:
            own = _commands(decision, ctx)
        except LookupError as exc:
            unsendable.append(_Outcome(decision, ok=False, error=str(exc), terminal=True))
            continue
        if len(own) > MAX_BATCH and not commands:
            try:
                own = _overflow_send(client, decision, own)
            except BitrixError as exc:
                outcome = _Outcome(decision, ok=False, error=str(exc), terminal=not exc.retryable)
                unsendable.append(outcome)
                continue
        if len(commands) + len(own) > MAX_BATCH:  # keep this one for the next batch
            deferred.append(decision.pk)
            continue
        commands.update(own)
        for key in own:
            owners[key] = decision
    if deferred:
        Decision.objects.filter(pk__in=deferred).update(status=Decision.Status.QUEUED)
    _finish_batch(unsendable, result=result, ctx=ctx)
    if not commands:
        return
    sent = list({d.pk: d for d in owners.values()}.values())
    try:
        answer = client.batch(commands)
    except BitrixError as exc:
        outcomes = [_Outcome(d, ok=False, error=str(exc), terminal=not exc.retryable) for d in sent]
        _finish_batch(outcomes, result=result, ctx=ctx)
        return
    outcomes = []
    for decision in sent:
        main = f"d{decision.pk}"
        if main in answer.errors:
            error = answer.errors[main]
            outcomes.append(
                _Outcome(decision, ok=False, error=str(error), terminal=not error.retryable)
            )
        else:
            payload = _payload(decision, answer.results.get(main))
            outcomes.append(_Outcome(decision, ok=True, payload=payload))
    _finish_batch(outcomes, result=result, ctx=ctx)


def _overflow_send(
    client: BitrixClient, decision: Decision, own: dict[str, tuple[str, dict]]
) -> dict[str, tuple[str, dict]]:
    """Send the follow-along updates that do not fit in one batch with their decision.

    A hand-over of a company with dozens of open deals, contacts and tasks has more commands
    than a batch holds; deferred to "the next batch" it would never fit, and the executor would
    claim it forever. The updates that go along (owner changes: repeating one is harmless) are
    sent first, in batches of their own; the decision's own command, its timeline post and the
    updates that fit go out as usual. Returns those; raises the first error of an early batch.
    """
    main = f"d{decision.pk}"
    kept = [key for key in (main, f"{main}_timeline") if key in own]
    along = [key for key in own if key not in kept]
    split = len(along) - (MAX_BATCH - len(kept))
    early, rest = along[:split], along[split:]
    for start in range(0, len(early), MAX_BATCH):
        answer = client.batch({key: own[key] for key in early[start : start + MAX_BATCH]})
        if answer.errors:
            raise next(iter(answer.errors.values()))
    return {key: own[key] for key in (*kept, *rest)}


def _send_digests(client: BitrixClient, batch: list[Decision], ctx: _Context, result):
    """One message per recipient listing every item; the TAG makes a resend replace it."""
    by_recipient: dict[int, list[Decision]] = {}
    nobody: list[_Outcome] = []
    for decision in batch:
        recipient = _recipient(decision, ctx)
        if recipient is None:
            nobody.append(_Outcome(decision, ok=False, error="nobody to notify", terminal=True))
            continue
        by_recipient.setdefault(recipient, []).append(decision)
    _finish_batch(nobody, result=result, ctx=ctx)
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
        outcomes = [
            _Outcome(decision, ok=False, error=str(exc), terminal=not exc.retryable)
            for items in items_by_key.values()
            for decision in items
        ]
        _finish_batch(outcomes, result=result, ctx=ctx)
        return
    outcomes = []
    for key, items in items_by_key.items():
        for decision in items:
            if key in answer.errors:
                error = answer.errors[key]
                outcomes.append(
                    _Outcome(decision, ok=False, error=str(error), terminal=not error.retryable)
                )
            else:
                payload = {"notification_id": answer.results.get(key), "digest": key}
                outcomes.append(_Outcome(decision, ok=True, payload=payload))
    _finish_batch(outcomes, result=result, ctx=ctx)


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
    if decision.action == "stream_post":
        # The portal answers the new post's id (older portals: `true`, so no id to keep).
        post_id = int(answer) if str(answer).isdigit() else None
        return {"post_id": post_id, "recipient": decision.owner_id}
    return {"answer": answer}


@dataclass
class _Outcome:
    """What the portal answered for one decision of a batch."""

    decision: Decision
    ok: bool
    error: str = ""
    terminal: bool = False
    payload: dict | None = None


def _finish_batch(outcomes: list[_Outcome], *, result: ExecutionResult, ctx: _Context) -> None:
    """Record one batch's answers in one transaction: a handful of statements, not per decision.

    Done decisions get their created object's id (`result`) and `done` in the same UPDATE, with
    their client state, history rows and follow-ups, so a crash leaves either all of it or the
    decisions still `executing` for _recover. Failures go back to the queue or, terminal or out
    of attempts, to `failed`.
    """
    if not outcomes:
        return
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    with transaction.atomic():
        if done:
            for outcome in done:
                outcome.decision.result = outcome.payload or {}
            _mark_done([o.decision for o in done])
            _effects([o.decision for o in done], ctx)
        if failed:
            _mark_failed(failed)
    result.done += len(done)
    for outcome in failed:
        decision = outcome.decision
        if outcome.terminal or decision.attempts >= MAX_ATTEMPTS:
            result.failed += 1
        else:
            result.retried += 1
        result.errors.append(f"{decision.rule} {decision.client_id}: {outcome.error}"[:300])


def _mark_done(decisions: list[Decision]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE assistants_decision d
            SET status = %s, result = v.result::jsonb, executed_at = %s, last_error = ''
            FROM unnest(%s::bigint[], %s::text[]) AS v(id, result)
            WHERE d.id = v.id
            """,
            [
                Decision.Status.DONE,
                timezone.now(),
                [d.pk for d in decisions],
                [json.dumps(d.result, cls=DjangoJSONEncoder) for d in decisions],
            ],
        )


def _mark_failed(outcomes: list[_Outcome]) -> None:
    statuses = [
        Decision.Status.FAILED
        if o.terminal or o.decision.attempts >= MAX_ATTEMPTS
        else Decision.Status.QUEUED
        for o in outcomes
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE assistants_decision d SET status = v.status, last_error = v.error
            FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, status, error)
            WHERE d.id = v.id
            """,
            [[o.decision.pk for o in outcomes], statuses, [o.error[:2000] for o in outcomes]],
        )


def _effects(decisions: list[Decision], ctx: _Context) -> None:
    """Client state, history and follow-ups of done decisions (in the caller's transaction)."""
    from assistants.services import followups_create

    states: dict[tuple[int, int], ClientState] = {}  # the last change of a client wins
    events: list[ClientEvent] = []
    for decision in decisions:
        params = decision.params
        detail: dict = {"from": params.get("from"), "to": params.get("to")}
        if decision.action == "set_status":
            key = (decision.entity_type_id, decision.client_id)
            states[key] = ClientState(
                entity_type_id=decision.entity_type_id,
                client_id=decision.client_id,
                status=params["to"],
                status_since=ctx.now,
                bitrix_value=ctx.enum_values.get(decision.entity_type_id, {}).get(params["to"], ""),
            )
            kind = "status_reverted" if params.get("revert") else "status_changed"
        elif decision.action == "create_task" and decision.rule == DIGEST_RULE:
            events += _digest_items_done(decision, ctx)
            continue
        elif decision.action == "create_task":
            kind, detail = "task_created", decision.result
        elif decision.action == "reassign":
            kind = "opened" if params.get("open") else "reassigned"
        else:
            continue
        events.append(
            ClientEvent(
                entity_type_id=decision.entity_type_id,
                client_id=decision.client_id,
                kind=kind,
                detail=detail,
                reason=decision_reason(decision, ctx.settings, ctx.language),
                decision=decision,
            )
        )
    if states:
        ClientState.objects.bulk_create(
            list(states.values()),
            update_conflicts=True,
            unique_fields=["entity_type_id", "client_id"],
            update_fields=["status", "status_since", "bitrix_value", "updated_at"],
        )
        # The mirror holds what was just written too, in the same transaction: otherwise a pass
        # before the portal's update event would read the old value as a manager's change.
        mirror_user_fields_written(
            written={
                key: {STATUS_FIELD: state.bitrix_value}
                for key, state in states.items()
                if state.bitrix_value
            }
        )
    ClientEvent.objects.bulk_create(events)
    followups_create(decisions=decisions, settings=ctx.settings)


def _digest_items_done(digest: Decision, ctx: _Context) -> list[ClientEvent]:
    """A digest task exists: each client it lists has its reminder task (the digest's id).

    The items become `done` with that task id, so the open-task check and the released
    assistant treat the digest as each client's own reminder. Returns their history rows.
    """
    items = digest.params.get("items", [])
    result = {**digest.result, "digest": digest.pk}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE assistants_decision SET status = %s, result = %s::jsonb, executed_at = %s
            WHERE id = ANY(%s::bigint[]) AND action = 'digest_item'
            """,
            [
                Decision.Status.DONE,
                json.dumps(result, cls=DjangoJSONEncoder),
                timezone.now(),
                [item[0] for item in items],
            ],
        )
    return [
        ClientEvent(
            entity_type_id=et,
            client_id=cid,
            kind="task_created",
            detail=result,
            reason=digest_item_reason(digest, ctx.language),
            decision_id=item_id,
        )
        for item_id, et, cid in items
    ]


def _recover(client: BitrixClient, portal, now: datetime) -> int:
    """Decisions left `executing` by a crash: find their effect in Bitrix24 or send again."""
    stuck = list(Decision.objects.filter(status=Decision.Status.EXECUTING).order_by("id")[:500])
    if not stuck:
        return 0
    ctx = _context(portal, now, stuck)
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
    marked = [d for d in stuck if d.pk in posted]
    for decision in marked:
        decision.params = {**decision.params, "timeline_posted": True}
    Decision.objects.bulk_update(marked, ["params"])
    payloads = {pk: {"task_id": task_id, "recovered": True} for pk, task_id in found.items()}
    payloads.update(
        {
            pk: {"post_id": post_id, "recipient": owner, "recovered": True}
            for pk, (post_id, owner) in _stream_posts_found(client, stuck, portal).items()
        }
    )
    _finish_batch(
        [_Outcome(d, ok=True, payload=payloads[d.pk]) for d in stuck if d.pk in payloads],
        result=ExecutionResult(),
        ctx=ctx,
    )
    # Not created (tasks, stream posts), or idempotent (status, owner, notification TAG): send
    # again.
    Decision.objects.filter(pk__in=[d.pk for d in stuck if d.pk not in payloads]).update(
        status=Decision.Status.QUEUED
    )
    return len(stuck)


def _stream_posts_found(
    client: BitrixClient, stuck: list[Decision], portal
) -> dict[int, tuple[int, int | None]]:
    """Stuck stream posts already in the activity stream: {decision id: (post id, manager)}.

    Each is looked for among the newest posts addressed to its manager, by the `(KW-<id>)`
    marker its title ends with; a post made moments before the crash is on the first page.
    Without the `log` scope nothing can have been posted (and nothing can be asked).
    """
    candidates = [d for d in stuck if d.action == "stream_post" and d.owner_id]
    if not candidates or STREAM_SCOPE not in portal_granted_scopes(portal_id=portal.pk):
        return {}
    found: dict[int, tuple[int, int | None]] = {}
    for start in range(0, len(candidates), MAX_BATCH):
        chunk = candidates[start : start + MAX_BATCH]
        answer = client.batch(
            {f"p{d.pk}": ("log.blogpost.get", {"LOG_RIGHTS": [f"U{d.owner_id}"]}) for d in chunk}
        )
        for decision in chunk:
            for row in answer.results.get(f"p{decision.pk}") or []:
                if str(row.get("TITLE", "")).endswith(f"(KW-{decision.pk})"):
                    found[decision.pk] = (int(row["ID"]), decision.owner_id)
    return found


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
