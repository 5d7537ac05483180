"""Writes of the assistants app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext

from assistants.models import (
    AssistantSettings,
    ClientEvent,
    ClientSnooze,
    Decision,
    ManagerAbsence,
)
from assistants.settings_schema import settings_document_errors
from config.errors import Conflict, NotFound, ValidationFailed


def assistant_settings_save(*, document: Any, changed_by: str = "") -> AssistantSettings:
    """Validate and store a new settings version; the previous versions stay for the record."""
    errors = settings_document_errors(document)
    if errors:
        raise ValidationFailed("The assistant settings are not valid.", extra={"fields": errors})
    try:
        with transaction.atomic():
            latest = AssistantSettings.objects.aggregate(v=Max("version"))["v"] or 0
            return AssistantSettings.objects.create(
                version=latest + 1, document=document, created_by=changed_by[:128]
            )
    except IntegrityError as exc:  # two saves raced for the same version number
        raise Conflict("The settings were changed at the same time; reload and retry.") from exc


# --- follow-ups, undo, snoozes, absences, runs -------------------------------------------------


def _queue(decisions: list[Decision]) -> list[Decision]:
    """Insert follow-up decisions; a key that exists already is skipped (exactly once)."""
    Decision.objects.bulk_create(decisions, ignore_conflicts=True)
    return list(Decision.objects.filter(key__in=[d.key for d in decisions]))


def _followup(parent: Decision, suffix: str, **fields) -> Decision:
    return Decision(
        key=f"{parent.key}|{suffix}"[:200],
        pass_ref_id=parent.pass_ref_id,
        assistant=parent.assistant,
        rule=fields.pop("rule", parent.rule),
        rule_version=parent.rule_version,
        entity_type_id=parent.entity_type_id,
        client_id=parent.client_id,
        owner_id=fields.pop("owner_id", parent.owner_id),
        facts=parent.facts,
        status=Decision.Status.QUEUED,
        **fields,
    )


def followups_create(*, decisions: list[Decision], settings: dict) -> list[Decision]:
    """What done decisions set in motion: warnings, loss messages, hand-overs.

    One insert for all of them (the executor calls this once per batch it carried out), and the
    hand-overs among them are assigned together, like a pass's.
    """
    from assistants.handover import handover_targets_assign

    followups = [item for decision in decisions for item in _followups_of(decision, settings)]
    if not followups:
        return []
    created = _queue(followups)
    handover_targets_assign(
        decisions=[d for d in created if d.action == "reassign"], as_of=timezone.now()
    )
    return created


def _followups_of(decision: Decision, settings: dict) -> list[Decision]:
    params = decision.params
    followups: list[Decision] = []
    if decision.action == "set_status" and params.get("revert"):
        followups.append(
            _followup(
                decision, "notify", action="notify", params={"to": "owner", "message": "revert"}
            )
        )
    if decision.action == "set_status" and params.get("to") == "lost":
        followups += [
            _followup(
                decision, "loss-manager", action="notify",
                params={"to": "owner", "message": "loss_manager"},
            ),
            _followup(
                decision, "loss-supervisor", action="notify",
                params={"to": "supervisor", "message": "loss_supervisor"},
            ),
        ]  # fmt: skip
        on_loss = settings["ladder"]["on_loss"]
        if on_loss["policy"] != "none":
            followups.append(
                _followup(
                    decision,
                    "handover",
                    action="reassign",
                    rule="ladder.loss_handover",
                    params={
                        "from": decision.owner_id,
                        "handover": on_loss,
                        "move_deals": False,
                        "move_tasks": False,
                    },
                )
            )
    # An undo gives the client back; the "handed over because the task was ignored" messages
    # would tell both managers the opposite of what happened.
    if (
        decision.action == "reassign"
        and not params.get("open")
        and params.get("to")
        and not params.get("undo")
    ):
        # A loss hand-over had no reminder task to ignore: it says the client was lost.
        kind = "loss_handover" if decision.rule == "ladder.loss_handover" else "released"
        followups += [
            _followup(
                decision, "notify-old", action="notify",
                params={"to": "owner", "message": f"{kind}_from"},
            ),
            _followup(
                decision, "notify-new", action="notify", owner_id=params["to"],
                params={"to": "owner", "message": f"{kind}_to"},
            ),
            _followup(
                decision, "notify-supervisor", action="notify",
                params={"to": "supervisor", "message": f"{kind}_supervisor"},
            ),
        ]  # fmt: skip
    return followups


def decision_undo(*, decision_id: int, by: str) -> Decision:
    """Revert a status change or a hand-over made by an assistant, within the undo window."""
    from assistants.selectors import assistant_settings_current

    with transaction.atomic():
        decision = Decision.objects.select_for_update().filter(pk=decision_id).first()
        if decision is None:
            raise NotFound("No such decision.")
        if decision.status != Decision.Status.DONE or decision.action not in {
            "set_status",
            "reassign",
        }:
            raise Conflict(
                "Only a status change or a hand-over that was carried out can be undone."
            )
        window = assistant_settings_current().document["safety"]["undo_days"]
        if decision.executed_at and decision.executed_at < timezone.now() - timedelta(days=window):
            raise Conflict(f"The undo window of {window} days has passed.")
        if decision.action == "set_status":
            params = {"from": decision.params["to"], "to": decision.params["from"], "undo": True}
            owner = decision.owner_id
        else:
            params = {
                "from": decision.params.get("to"),
                "to": decision.params.get("from"),
                "move_deals": decision.params.get("move_deals", False),
                "move_tasks": decision.params.get("move_tasks", False),
                "deal_ids": decision.params.get("deal_ids", []),
                "task_ids": decision.params.get("task_ids", []),
                "undo": True,
            }
            owner = decision.params.get("to")
        compensation = Decision.objects.create(
            key=f"undo:{decision.pk}",
            assistant=decision.assistant,
            rule="undo",
            rule_version=decision.rule_version,
            entity_type_id=decision.entity_type_id,
            client_id=decision.client_id,
            owner_id=owner,
            action=decision.action,
            params=params,
            facts={"undo_of": decision.pk, "by": by[:128]},
            status=Decision.Status.QUEUED,
            undo_of=decision,
        )
        Decision.objects.filter(pk=decision.pk).update(status=Decision.Status.UNDONE)
        if decision.action == "reassign":
            # A supervisor who takes a hand-over back means "this client stays": hand-overs of
            # the same client still waiting in the outbox would quietly overrule the undo.
            Decision.objects.filter(
                entity_type_id=decision.entity_type_id,
                client_id=decision.client_id,
                action="reassign",
                status__in=[Decision.Status.QUEUED, Decision.Status.AWAITING_APPROVAL],
            ).exclude(pk=compensation.pk).update(
                status=Decision.Status.SKIPPED,
                last_error=f"superseded by the undo of decision {decision.pk}",
            )
        ClientEvent.objects.create(
            entity_type_id=decision.entity_type_id,
            client_id=decision.client_id,
            kind="undo_requested",
            detail={"decision": decision.pk, "by": by[:128]},
            reason=f"undo of {decision.rule}",
            decision=compensation,
        )
    return compensation


def snooze_create(*, entity_type_id: int, client_id: int, until, reason: str, by: int | None):
    if until <= timezone.now().date():
        raise ValidationFailed(
            "A snooze must end in the future.", extra={"fields": {"until": "past"}}
        )
    if not reason.strip():
        raise ValidationFailed(
            "Say why the client is snoozed.", extra={"fields": {"reason": "empty"}}
        )
    snooze = ClientSnooze.objects.create(
        entity_type_id=entity_type_id, client_id=client_id, until=until, reason=reason[:500],
        created_by=by,
    )  # fmt: skip
    ClientEvent.objects.create(
        entity_type_id=entity_type_id,
        client_id=client_id,
        kind="snoozed",
        detail={"until": until.isoformat(), "by": by},
        reason=reason[:500],
    )
    return snooze


def absence_create(*, user_id: int, starts_on, ends_on, reason: str = "") -> ManagerAbsence:
    if ends_on < starts_on:
        raise ValidationFailed(
            "An absence cannot end before it starts.", extra={"fields": {"ends_on": "before start"}}
        )
    return ManagerAbsence.objects.create(
        user_id=user_id, starts_on=starts_on, ends_on=ends_on, reason=reason[:200]
    )


def ladder_reindex(*, portal, by: str, as_of=None) -> dict[str, int]:
    """Take in the portal's statuses as they are now (after a bulk import): see
    assistants.rules.ladder_statuses_reindex. Run it once the import is in the mirror."""
    from assistants.rules import ENTITY_TYPES, ladder_statuses_reindex
    from assistants.selectors import assistant_settings_current

    settings = assistant_settings_current().document
    if not settings["ladder"]["enabled"]:
        raise Conflict(gettext("The status ladder is turned off: there is nothing to re-index."))
    with translation.override(getattr(portal, "language", "ru") or "ru"):
        reason = gettext("Status taken in as set in Bitrix24: statuses re-indexed by %(by)s.") % {
            "by": by[:128]
        }
    with transaction.atomic():
        return ladder_statuses_reindex(
            as_of=as_of or timezone.now(),
            entities=[ENTITY_TYPES[name] for name in settings["entities"]],
            reason=reason,
            skip_note=f"planned from a status replaced by a re-index ({by[:128]})",
        )


def pass_approve(*, pass_id: int) -> int:
    """Release the hand-overs a mass pass held back for approval."""
    return Decision.objects.filter(
        pass_ref_id=pass_id, status=Decision.Status.AWAITING_APPROVAL
    ).update(status=Decision.Status.QUEUED)


def assistants_run(
    *, portal, as_of=None, dry_run: bool = False, send_notifications: bool | None = None
):
    """One pass and, unless it is a preview, the execution of its outbox.

    Notifications go out once a day at the portal's hour (seed 001), or when asked to.
    """
    from assistants.engine import assistants_pass_run
    from assistants.executor import notifications_send, outbox_execute

    result = assistants_pass_run(as_of=as_of, dry_run=dry_run)
    if dry_run:
        return result, None, None
    executed = outbox_execute(portal=portal, now=result.as_of)
    notified = None
    if send_notifications is None:
        send_notifications = _digest_due(portal, result.as_of)
    if send_notifications:
        notified = notifications_send(portal=portal, now=result.as_of)
    return result, executed, notified


def _digest_due(portal, moment) -> bool:
    """Is it the portal's notification hour in its own time zone, with no digest sent today?"""
    from zoneinfo import ZoneInfo

    from assistants.selectors import assistant_settings_current
    from tenants.locks import lease_acquire

    hour = assistant_settings_current().document["notifications"]["hour"]
    local = moment.astimezone(ZoneInfo(portal.time_zone or "Europe/Moscow"))
    if local.hour != hour:
        return False
    return lease_acquire(f"digest:{portal.pk}:{local.date().isoformat()}", 26 * 3600)


def assistants_job(portal) -> str:
    """Periodic job (tenants.jobs): pass, outbox, and the daily digest at the portal's hour."""
    result, executed, notified = assistants_run(portal=portal)
    return f"pass:{result.pass_id} done:{executed.done} notified:{notified.done if notified else 0}"
