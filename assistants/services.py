"""Writes of the assistants app."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from assistants.models import AssistantSettings
from assistants.settings_schema import settings_document_errors
from config.errors import Conflict, ValidationFailed


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
