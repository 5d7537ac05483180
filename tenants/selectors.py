"""Reads on portals."""

from __future__ import annotations

from config.errors import NotAuthenticated, PermissionDeniedError
from tenants.models import Portal, PortalMember
from tenants.tokens import PortalTokenClaims

SESSION_PORTAL_KEY = "keepwarm_portal_id"


def portal_for_token_claims(claims: PortalTokenClaims) -> Portal:
    """The active portal a verified token names, or a clear refusal."""
    portal = Portal.objects.filter(pk=claims.portal_id).first()
    if portal is None or portal.member_id != claims.member_id:
        raise NotAuthenticated(
            "The portal token names a portal that does not exist.", code="invalid_token"
        )
    if not portal.is_active:
        raise PermissionDeniedError(
            "This portal is not connected to Keepwarm (it is being installed, was "
            "disconnected or uninstalled).",
            code="portal_inactive",
        )
    return portal


def portal_for_session_user(*, user, session) -> PortalMember | None:
    """A client admin's portal: the one chosen in the session, or their only one."""
    memberships = PortalMember.objects.select_related("portal").filter(
        user=user, portal__install_state=Portal.InstallState.ACTIVE
    )
    chosen = session.get(SESSION_PORTAL_KEY)
    if chosen is not None:
        return memberships.filter(portal_id=chosen).first()
    candidates = list(memberships[:2])
    return candidates[0] if len(candidates) == 1 else None


def portals_overview():
    """Portals for the back office, newest first."""
    return Portal.objects.exclude(schema_name="public").order_by("-created_at")


def portal_credentials_get(*, portal_id: int):
    """The portal's decrypted tokens, read fresh from the database (never cached)."""
    from tenants.models import PortalCredentials

    return PortalCredentials.objects.select_related("portal").filter(portal_id=portal_id).first()
