"""The one place that decides which portal schema a request may touch.

Every request starts in the public schema. A portal is resolved only from verified credentials:
- a signed Bearer token (iframe and API; see tenants.tokens), or
- the session of a logged-in client admin (tenants.PortalMember).
Bitrix24 events carry member_id + application_token and are verified by their own endpoint.
Anything else stays in public, where no portal data lives. A presented but invalid token is
rejected here, before any view runs, with 401/403 and a message that says why.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse

from config.errors import ApplicationError
from tenants.selectors import portal_for_session_user, portal_for_token_claims
from tenants.tokens import portal_token_verify

logger = logging.getLogger(__name__)


def _error_response(exc: ApplicationError) -> JsonResponse:
    response = JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.http_status)
    if exc.http_status == 401:
        response["WWW-Authenticate"] = f'Bearer realm="keepwarm", error="{exc.code}"'
    return response


class PortalResolutionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        connection.set_schema_to_public()
        request.portal = None
        request.portal_claims = None
        request.portal_member = None
        try:
            self._resolve(request)
        except ApplicationError as exc:
            logger.info(
                "portal credential rejected",
                extra={"path": request.path, "code": exc.code},
            )
            return _error_response(exc)
        if request.portal is not None:
            connection.set_tenant(request.portal)
        try:
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()

    def _resolve(self, request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer":
            claims = portal_token_verify(token.strip())
            request.portal = portal_for_token_claims(claims)
            request.portal_claims = claims
            return
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            member = portal_for_session_user(user=user, session=request.session)
            if member is not None:
                request.portal = member.portal
                request.portal_member = member
