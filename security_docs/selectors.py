"""What the published security sheet says, assembled from the running configuration."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class SecuritySheet:
    token_ttl_minutes: int
    rest_log_retention_days: int
    security_contact: str


def security_sheet() -> SecuritySheet:
    return SecuritySheet(
        token_ttl_minutes=int(settings.KEEPWARM_PORTAL_TOKEN_TTL.total_seconds() // 60),
        rest_log_retention_days=settings.KEEPWARM_REST_LOG_RETENTION_DAYS,
        security_contact=settings.KEEPWARM_SECURITY_CONTACT,
    )
