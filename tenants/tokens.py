"""Short-lived signed Bearer tokens that tie a request to one portal.

The Bitrix24 iframe is a third-party context where some browsers drop our cookies, so the iframe
and the API authenticate with a token in the Authorization header instead. A token is signed with
the deployment's SECRET_KEY (rotation through SECRET_KEY_FALLBACKS), names the portal by id and
member_id, and expires after at most KEEPWARM_PORTAL_TOKEN_TTL.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing

from config.errors import NotAuthenticated

_SALT = "keepwarm.portal-token.v1"
AUDIENCES = ("iframe", "api")


class PortalTokenInvalid(NotAuthenticated):
    code = "invalid_token"


class PortalTokenExpired(NotAuthenticated):
    code = "token_expired"


@dataclass(frozen=True)
class PortalTokenClaims:
    portal_id: int
    member_id: str
    audience: str
    bitrix_user_id: int | None
    expires_at: int
    token_id: str
    is_admin: bool = False


def portal_token_issue(
    *,
    portal_id: int,
    member_id: str,
    audience: str,
    bitrix_user_id: int | None = None,
    ttl: timedelta | None = None,
    is_admin: bool = False,
) -> str:
    """Sign a token for one portal; the TTL can be shortened but never exceed the setting.

    `is_admin` says the holder administers the portal (Bitrix24 said so, or a client admin asked
    for the token); only such tokens read the REST call log, the staff-access log and settings.
    """
    if audience not in AUDIENCES:
        raise ValueError(f"unknown token audience {audience!r}")
    max_ttl = settings.KEEPWARM_PORTAL_TOKEN_TTL
    lifetime = min(ttl or max_ttl, max_ttl)
    payload = {
        "p": portal_id,
        "m": member_id,
        "a": audience,
        "u": bitrix_user_id,
        "adm": bool(is_admin),
        "exp": int(time.time() + lifetime.total_seconds()),
        "jti": secrets.token_urlsafe(8),
    }
    return signing.dumps(payload, salt=_SALT, compress=False)


def portal_token_verify(token: str) -> PortalTokenClaims:
    """Return the claims of a genuine, unexpired token or raise with a message that says why."""
    if not token or len(token) > 2048:
        raise PortalTokenInvalid("The portal token is missing or malformed.")
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature as exc:
        raise PortalTokenInvalid(
            "The portal token is not valid: its signature does not match."
        ) from exc
    try:
        claims = PortalTokenClaims(
            portal_id=int(payload["p"]),
            member_id=str(payload["m"]),
            audience=str(payload["a"]),
            bitrix_user_id=None if payload.get("u") is None else int(payload["u"]),
            expires_at=int(payload["exp"]),
            token_id=str(payload["jti"]),
            is_admin=payload.get("adm") is True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PortalTokenInvalid("The portal token is malformed.") from exc
    if claims.audience not in AUDIENCES:
        raise PortalTokenInvalid("The portal token has an unknown audience.")
    if claims.expires_at <= time.time():
        raise PortalTokenExpired("The portal token has expired; open the application again.")
    return claims
