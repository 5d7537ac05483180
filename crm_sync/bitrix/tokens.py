"""Token refresh that is safe with many worker processes.

Bitrix24's advice (notes §1.6): refresh only when a call answers `expired_token`, never on a timer.
The refresh token rotates on every use (the old one dies), so exactly one process may refresh a
portal at a time: a Redis lock serialises them, and whoever gets the lock after someone else
refreshed finds a different access token in the database and simply uses it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from redis.exceptions import LockError
from redis.lock import Lock

from crm_sync.bitrix.errors import BitrixPortalDisconnected, BitrixTransportError, classify
from crm_sync.bitrix.transport import get
from tenants.locks import redis_client
from tenants.selectors import portal_credentials_get
from tenants.services import portal_credentials_rotate, portal_mark_disconnected

logger = logging.getLogger(__name__)


def token_url(server_endpoint: str) -> str:
    """`https://oauth.bitrix.info/rest/` → `https://oauth.bitrix.info/oauth/token/`."""
    parts = urlsplit(server_endpoint)
    path = parts.path.rstrip("/")
    if path.endswith("/rest"):
        path = path[: -len("/rest")]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/oauth/token/", "", ""))


def _refresh_lock(portal_id: int) -> Lock:
    return Lock(
        redis_client(),
        f"{settings.KEEPWARM_REDIS_NAMESPACE}:lock:token-refresh:{portal_id}",
        timeout=60,
        blocking=True,
        blocking_timeout=90,
        thread_local=False,
    )


def access_token_refresh(*, portal_id: int, member_id: str, stale_access_token: str) -> str:
    """Return a working access token, refreshing it only if nobody did since `stale`."""
    lock = _refresh_lock(portal_id)
    if not lock.acquire():
        raise BitrixTransportError(
            "timed out waiting for another process to refresh the token",
            member_id=member_id,
            method="oauth/token",
        )
    try:
        credentials = portal_credentials_get(portal_id=portal_id)
        if credentials is None:
            raise BitrixPortalDisconnected(
                "no stored credentials", member_id=member_id, method="oauth/token"
            )
        if credentials.access_token != stale_access_token:
            return credentials.access_token  # another process refreshed while we waited
        answer = get(
            token_url(credentials.server_endpoint),
            {
                "grant_type": "refresh_token",
                "client_id": settings.BITRIX_CLIENT_ID,
                "client_secret": settings.BITRIX_CLIENT_SECRET,
                "refresh_token": credentials.refresh_token,
            },
            member_id=member_id,
            method="oauth/token",
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status != 200 or "access_token" not in body:
            error = classify(
                http_status=answer.status,
                code=str(body.get("error", "")),
                description=str(body.get("error_description", "")),
                member_id=member_id,
                method="oauth/token",
            )
            if answer.status < 500 and str(body.get("error", "")).lower() in {
                "invalid_grant",
                "invalid_client",
                "wrong_client",
                "not_installed",
                "payment_required",
            }:
                portal_mark_disconnected(portal_id=portal_id, reason=f"refresh: {error.code}")
                raise BitrixPortalDisconnected(
                    error.description, member_id=member_id, method="oauth/token", code=error.code
                )
            raise error
        # Persist before use: the refresh token we just spent is dead.
        portal_credentials_rotate(
            portal_id=portal_id,
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            expires_in=int(body.get("expires_in") or 3600),
        )
        logger.info("access token refreshed", extra={"portal_id": portal_id})
        return body["access_token"]
    finally:
        try:
            lock.release()
        except LockError:  # the lease expired: it is already free
            logger.warning("token refresh lock expired", extra={"portal_id": portal_id})
