"""DRF authentication and permission for portal principals.

Kept apart from tenants.api because DRF imports its default authentication classes while
rest_framework.views is still being imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from tenants.models import Portal, PortalMember


@dataclass(frozen=True)
class PortalPrincipal:
    """Who is calling, as far as the API is concerned: a portal plus (optionally) its user."""

    portal: Portal
    bitrix_user_id: int | None
    via: str  # "token" or "session"
    is_admin: bool = False  # administers the portal: sees its logs, changes its settings

    is_authenticated = True
    is_anonymous = False


class PortalTokenAuthentication(BaseAuthentication):
    """Surfaces the Bearer token the middleware already verified."""

    def authenticate(self, request):
        django_request = request._request
        claims = getattr(django_request, "portal_claims", None)
        portal = getattr(django_request, "portal", None)
        if claims is None or portal is None:
            return None
        principal = PortalPrincipal(portal, claims.bitrix_user_id, "token", claims.is_admin)
        return principal, claims

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="keepwarm"'


class PortalSessionAuthentication(SessionAuthentication):
    """A logged-in client admin; CSRF is enforced as for any session-authenticated write."""

    def authenticate(self, request):
        member = getattr(request._request, "portal_member", None)
        if member is None:
            return None
        self.enforce_csrf(request)
        is_admin = member.role == PortalMember.Role.ADMIN
        return PortalPrincipal(member.portal, member.bitrix_user_id, "session", is_admin), None


class IsPortalPrincipal(BasePermission):
    message = "A portal token or a client-admin session is required."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, PortalPrincipal)


class IsPortalAdmin(BasePermission):
    """The portal's administrators only: REST call log, staff-access log, REST usage."""

    message = "Only the portal's administrators may do this."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, PortalPrincipal) and request.user.is_admin


class IsPortalAdminOrReadOnly(IsPortalAdmin):
    """Every portal user may read; only administrators change settings, approve or undo."""

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)
