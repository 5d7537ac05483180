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
