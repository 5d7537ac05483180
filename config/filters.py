"""Filters shared by the API's filter sets."""

from __future__ import annotations

from datetime import UTC

from django.core.exceptions import ValidationError
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, normalised to UTC.

    Python accepts UTC offsets up to ±23:59, PostgreSQL only up to ±15:59, so a moment such as
    `2024-01-01T00:00-17:00` must reach the database as UTC or the query fails with a 500.
    """

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Enter a moment between the years 1 and 9999.") from exc


class UtcIsoDateTimeFilter(IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
