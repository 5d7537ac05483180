"""Texts assistants send to Bitrix24 and show in explanations, in the portal's language.

A decision stores facts, not prose; the words are made here, from the facts and the portal's
own message templates, when they are needed.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from assistants.calendar import WorkCalendar
from crm_sync.selectors import client_names

ENTITY_PATHS = {3: "contact", 4: "company", 2: "deal"}


def _date(value) -> str:
    if not value:
        return "—"
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    return moment.strftime("%d.%m.%Y") if moment else str(value)[:10]


def status_name(settings: dict, code: str | None) -> str:
    for status in settings["ladder"]["statuses"]:
        if status["code"] == code:
            return status["name"]
    return code or "—"


def client_link(domain: str, entity_type_id: int, client_id: int, name: str) -> str:
    path = ENTITY_PATHS.get(entity_type_id, "contact")
    return f"[URL=https://{domain}/crm/{path}/details/{client_id}/]{name}[/URL]"


def decision_reason(decision, settings: dict, language: str = "ru") -> str:
    """Why an assistant acted, in one sentence (the "explain" of every decision)."""
    facts, params = decision.facts or {}, decision.params or {}
    with translation.override(language):
        rule = decision.rule
        if rule == "ladder.decay":
            return _(
                "No contact since %(since)s: %(days)s days passed, the status moves from "
                "%(from)s to %(to)s."
            ) % {
                "since": _date(facts.get("clock_started")),
                "days": facts.get("days"),
                "from": status_name(settings, params.get("from")),
                "to": status_name(settings, params.get("to")),
            }
        if rule == "ladder.warning":
            return _("The status %(status)s ends soon (%(days)s days since %(since)s).") % {
                "status": status_name(settings, params.get("status")),
                "days": facts.get("days"),
                "since": _date(facts.get("clock_started")),
            }
        if rule == "ladder.open_deal":
            return _("The client has an open deal: status In work.")
        if rule in {"ladder.deal_closed", "ladder.deal_won"}:
            return _("A deal was closed: the client is Hot.")
        if rule == "ladder.raise_without_call":
            return _(
                "The status was raised to %(attempted)s without a call in the last %(days)s "
                "days: it goes back to %(status)s."
            ) % {
                "attempted": status_name(settings, facts.get("attempted_status")),
                "days": facts.get("lookback_days"),
                "status": status_name(settings, facts.get("status")),
            }
        if rule in {"forgotten.client", "deals.untouched"}:
            return _(
                "No contact for more than %(days)s days (last: %(last)s) and nothing planned."
            ) % {
                "days": facts.get("days"),
                "last": _date(facts.get("last_activity_at")),
            }
        if rule == "forgotten.digest":
            return _(
                "These clients have had no contact for more than %(days)s days and nothing planned:"
            ) % {"days": facts.get("days") or params.get("days")}
        if rule == "released.overdue_task":
            return _(
                "The reminder task (due %(deadline)s) is overdue and the client is still not "
                "contacted: the client goes to another manager."
            ) % {"deadline": _date(facts.get("task_deadline"))}
        if rule == "ladder.stream_digest" and params.get("team"):
            text = _(
                "The statuses of these clients of your team change soon: one post in the "
                "activity stream, visible to you only (%(count)s clients)."
            ) % {"count": len(params.get("items", []))}
            skipped = (decision.result or {}).get("skipped")
            return f"{text} {stream_skip_reason(skipped, language)}" if skipped else text
        if rule == "ladder.stream_digest":
            text = _(
                "The statuses of these clients change soon: one post in the activity stream, "
                "visible to their manager only (%(count)s clients)."
            ) % {"count": len(params.get("items", []))}
            skipped = (decision.result or {}).get("skipped")
            return f"{text} {stream_skip_reason(skipped, language)}" if skipped else text
        if rule == "undo":
            return _("An earlier assistant action was undone.")
        return rule


def task_title(decision, settings: dict, name: str) -> str:
    template = (
        settings["deals"]["task_title"]
        if decision.rule == "deals.untouched"
        else settings["forgotten"]["task_title"]
    )
    days = decision.params.get("days", "")
    title = template.replace("{days}", str(days))
    # The marker ends the title whole (never cut) and is closed by ")", so a search for
    # "(KW-1)" cannot find "(KW-12)": the executor's crash recovery relies on both.
    return f"{title}: {name}"[:235] + f" (KW-{decision.pk})"


def digest_item_reason(digest, language: str) -> str:
    """Why one client of a digest task got it (its history row)."""
    with translation.override(language):
        return _(
            "No contact for more than %(days)s days and nothing planned: the client is in the "
            "manager's digest task."
        ) % {"days": digest.params.get("days", "")}


def digest_task_title(decision, language: str) -> str:
    """The title of a manager's digest task: how many clients, and the marker (see task_title)."""
    with translation.override(language):
        title = _("Clients without contact for more than %(days)s days: %(count)s") % {
            "days": decision.params.get("days", ""),
            "count": len(decision.params.get("items", [])),
        }
    return f"{title[:235]} (KW-{decision.pk})"


def digest_task_description(
    decision, settings: dict, domain: str, names: dict, language: str, limit: int
) -> str:
    """The reason, then one linked line per client (the first `limit`, then how many more)."""
    items = decision.params.get("items", [])
    lines = [decision_reason(decision, settings, language)]
    for _id, entity_type_id, client_id in items[:limit]:
        name = names.get((entity_type_id, client_id), f"#{client_id}")
        lines.append("• " + client_link(domain, entity_type_id, client_id, name))
    if len(items) > limit:
        with translation.override(language):
            lines.append(_("… and %(count)s more") % {"count": len(items) - limit})
    return "\n".join(lines)


def notification_text(decision, settings: dict, domain: str, name: str, language: str) -> str:
    """The message for one notify decision (used alone or inside a digest)."""
    link = client_link(domain, decision.entity_type_id, decision.client_id, name)
    kind = decision.params.get("message")
    ladder = settings["ladder"]
    if kind == "loss_manager":
        return f"{ladder['loss_message_manager']} {link}"
    if kind == "loss_supervisor":
        return f"{ladder['loss_message_supervisor']} {link}"
    if decision.rule == "ladder.warning":
        return f"{ladder['warn_message']} {link}"
    with translation.override(language):
        if kind == "revert":
            return _("%(client)s: the status was restored because there was no recent call.") % {
                "client": link
            }
        lost = status_name(settings, "lost")
        if kind == "loss_handover_from":
            return _("%(client)s got the status %(status)s and was handed to another manager.") % {
                "client": link,
                "status": lost,
            }
        if kind == "loss_handover_to":
            return _(
                "%(client)s is now yours: the previous manager lost contact (status %(status)s)."
            ) % {"client": link, "status": lost}
        if kind == "loss_handover_supervisor":
            return _(
                "%(client)s got the status %(status)s and was handed over to another manager in "
                "your team."
            ) % {"client": link, "status": lost}
        if kind == "released_from":
            return _("%(client)s was handed to another manager: the reminder task was ignored.") % {
                "client": link
            }
        if kind == "released_to":
            return _("%(client)s is now yours: the previous manager did not contact them.") % {
                "client": link
            }
        if kind == "released_supervisor":
            return _("%(client)s was handed over to another manager in your team.") % {
                "client": link
            }
    return f"{link}: {decision_reason(decision, settings, language)}"


def names_for(decisions) -> dict[tuple[int, int], str]:
    """Names of the decisions' clients, the clients listed in digest tasks included."""
    clients = {(d.entity_type_id, d.client_id) for d in decisions if d.entity_type_id}
    for decision in decisions:
        # Digest task items are [id, type, client]; stream post items carry more after those.
        for item in (decision.params or {}).get("items", []):
            clients.add((item[1], item[2]))
    return client_names(clients)


def stream_post_title(decision, language: str) -> str:
    """The title of a manager's activity stream post: how many clients, and the marker.

    The marker `(KW-<id>)` ends the title whole, so crash recovery finds the post by it (see
    task_title).
    """
    with translation.override(language):
        title = _("Clients whose status changes soon: %(count)s") % {
            "count": len(decision.params.get("items", []))
        }
    return f"{title[:200]} (KW-{decision.pk})"


def stream_post_message(
    decision, settings: dict, domain: str, names: dict, language: str, limit: int
) -> str:
    """One line per client: link, current status → next status, and the date of the change."""
    calendar = WorkCalendar.from_settings(settings["calendar"])
    items = decision.params.get("items", [])
    lines = [decision_reason(decision, settings, language)]
    with translation.override(language):
        for _id, entity_type_id, client_id, status, target, clock, days in items[:limit]:
            name = names.get((entity_type_id, client_id), f"#{client_id}")
            moment = parse_datetime(str(clock)) if clock else None
            when = _date(calendar.after(moment, int(days or 0))) if moment else "—"
            lines.append(
                "• "
                + _("%(client)s: %(status)s → %(next)s on %(date)s")
                % {
                    "client": client_link(domain, entity_type_id, client_id, name),
                    "status": status_name(settings, status),
                    "next": status_name(settings, target),
                    "date": when,
                }
            )
        if len(items) > limit:
            lines.append(_("… and %(count)s more") % {"count": len(items) - limit})
    return "\n".join(lines)


def stream_skip_reason(kind: str, language: str) -> str:
    """Why a planned activity stream post was not made (stored on the decision, shown as is)."""
    with translation.override(language):
        if kind == "no_scope":
            return _(
                "The activity stream post was not made: the portal has not granted Keepwarm the "
                "“log” (activity stream) permission. An administrator can grant it by updating "
                "or reinstalling the application. The warnings still went out as notifications."
            )
        if kind == "nothing":
            return _(
                "The activity stream post was not made: none of its clients is about to change "
                "status any more (their statuses were re-indexed)."
            )
        return _(
            "The activity stream post was not made: the option was turned off before the "
            "portal's notification hour. The warnings still went out as notifications."
        )
