"""Reads of the assistants app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistants.models import AssistantSettings
from assistants.settings_schema import settings_default


@dataclass(frozen=True)
class CurrentSettings:
    version: int  # 0 means "defaults, never saved"
    document: dict[str, Any]


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
