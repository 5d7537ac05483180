"""Reads of the assistants app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from assistants.models import AssistantSettings
from assistants.settings_schema import settings_default


@dataclass(frozen=True)
class CurrentSettings:
    version: int  # 0 means "defaults, never saved"
    document: dict[str, Any]


# Who is away on a day (`%(away_on)s`, cast to a date): Keepwarm's own list, which supervisors
# fill in, and the portal's absence chart, which crm_sync mirrors (crm_sync.sync.absences). The
# released rule and the hand-over both read this one fragment, so they never disagree about who
# is on leave. Both lists hold inclusive dates.
AWAY_USERS_SQL = """
    SELECT a.user_id FROM assistants_managerabsence a
    WHERE %(away_on)s::date BETWEEN a.starts_on AND a.ends_on
    UNION
    SELECT b.user_id FROM crm_sync_userabsence b
    WHERE %(away_on)s::date BETWEEN b.starts_on AND b.ends_on
"""


def users_away(*, as_of: datetime) -> set[int]:
    """Employees away on the day of `as_of`, from either list."""
    with connection.cursor() as cursor:
        cursor.execute(AWAY_USERS_SQL, {"away_on": as_of})
        return {int(user_id) for (user_id,) in cursor.fetchall()}


def assistant_settings_current() -> CurrentSettings:
    latest = AssistantSettings.objects.order_by("-version").first()
    if latest is None:
        return CurrentSettings(version=0, document=settings_default())
    return CurrentSettings(version=latest.version, document=latest.document)


def ladder_status_items() -> list[dict[str, str]]:
    """The statuses a client can carry, in ladder order (Empty is "no value", not an item)."""
    statuses = assistant_settings_current().document["ladder"]["statuses"]
    return [{"code": s["code"], "name": s["name"]} for s in statuses if s["code"] != "empty"]


def decision_reasons(decisions, *, language: str) -> dict[int, str]:
    from assistants.messages import decision_reason

    settings = assistant_settings_current().document
    return {d.pk: decision_reason(d, settings, language) for d in decisions}


@dataclass(frozen=True)
class ClientHistory:
    entity_type_id: int
    client_id: int
    status: str | None
    status_since: object
    events: list
    decisions: list


def client_history(*, entity_type_id: int, client_id: int) -> ClientHistory:
    """Every status change and assistant action for one client, newest first (the "explain")."""
    from assistants.models import ClientEvent, ClientState, Decision

    state = ClientState.objects.filter(entity_type_id=entity_type_id, client_id=client_id).first()
    events = list(
        ClientEvent.objects.filter(entity_type_id=entity_type_id, client_id=client_id)[:500]
    )
    decisions = list(
        Decision.objects.filter(entity_type_id=entity_type_id, client_id=client_id).order_by("-id")[
            :500
        ]
    )
    return ClientHistory(
        entity_type_id,
        client_id,
        state.status if state else None,
        state.status_since if state else None,
        events,
        decisions,
    )
