"""Reads on portals."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from config.errors import NotAuthenticated, PermissionDeniedError
from tenants import crypto
from tenants.locks import redis_client
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


def portal_granted_scopes(*, portal_id: int) -> frozenset[str]:
    """The scopes the portal granted at install: an option needing another one is not tried."""
    from tenants.models import PortalCredentials

    rows = PortalCredentials.objects.filter(portal_id=portal_id).values_list("scope", flat=True)
    scope = rows.first() or ""
    return frozenset(part for part in scope.replace(" ", ",").split(",") if part)


@dataclass(frozen=True)
class EventIdentity:
    """What checking a Bitrix24 event needs to know about its portal."""

    portal_id: int
    is_active: bool
    token_digest: str  # crypto.secret_digest of the application token; "" when none is stored


# Bitrix24 sends one HTTP request per changed record, so bursts of a thousand events are normal;
# a database round trip (and often a new connection) per event was most of the endpoint's time.
# Writers forget the entry (tenants.services.portal_event_identity_forget); the TTL only bounds
# what a writer racing a reader could leave behind.
EVENT_IDENTITY_TTL_SECONDS = 60


def _event_identity_key(member_id: str) -> str:
    version = crypto.secret_digest_version()
    return f"{settings.KEEPWARM_REDIS_NAMESPACE}:event-identity:{version}:{member_id}"


def _event_rate_key(member_id: str) -> str:
    return f"{settings.KEEPWARM_REDIS_NAMESPACE}:event-rate:{member_id}"


@dataclass(frozen=True)
class EventGuard:
    """What the event intake re-checks in the very Redis call that queues an event's ids: the
    cached identity the event was verified against is still the current one, and the member_id is
    within its rate. Lets an event verified against this process's memo (no round trip) be queued
    in one round trip, with the same guarantees as the checks made one by one."""

    identity_key: str
    identity_value: str
    rate_key: str
    rate_window_seconds: int
    rate_limit: int


def portal_event_guard(
    *, member_id: str, identity_value: str, rate_window_seconds: int, rate_limit: int
) -> EventGuard:
    return EventGuard(
        identity_key=_event_identity_key(member_id),
        identity_value=identity_value,
        rate_key=_event_rate_key(member_id),
        rate_window_seconds=rate_window_seconds,
        rate_limit=rate_limit,
    )


class StaleEventGuard(Exception):
    """The identity an event was verified against changed before its ids were queued (nothing
    was queued): verify it again from Redis or the database."""


# Per process: member_id -> (the cached JSON, the identity) last read from Redis or the database.
# Only a hint: an event verified against it is queued only if Redis still holds the same JSON
# (EventGuard); anything else goes the long way. Holds connected portals only, one entry each.
_identity_memo: dict[str, tuple[str, EventIdentity]] = {}


def portal_event_identity_memo(*, member_id: str) -> tuple[str, EventIdentity] | None:
    return _identity_memo.get(member_id)


# Counts the event in its member_id's rate window and reads the cached identity: one round trip.
_EVENT_COUNT_AND_IDENTITY = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('GET', KEYS[2])}
"""


def portal_event_identity(
    *, member_id: str, rate_window_seconds: int
) -> tuple[EventIdentity | None, int]:
    """The portal behind an event's member_id (None if unknown) and how many events named this
    member_id in the current rate window, this one included.

    Both come from Redis in one round trip; the identity from the database on a cache miss.
    Unknown member_ids are not cached: forged events with made-up ids stay rate-limited reads.
    """
    redis = redis_client()
    key = _event_identity_key(member_id)
    count, cached = redis.register_script(_EVENT_COUNT_AND_IDENTITY)(
        keys=[_event_rate_key(member_id), key], args=[rate_window_seconds]
    )
    if cached is not None:
        raw = cached.decode()
        identity = EventIdentity(**json.loads(raw))
        _identity_memo[member_id] = (raw, identity)
        return identity, int(count)
    _identity_memo.pop(member_id, None)
    from tenants.models import PortalCredentials

    connection.set_schema_to_public()
    row = (
        PortalCredentials.objects.filter(portal__member_id=member_id)
        .values_list("portal_id", "portal__install_state", "application_token")
        .first()
    )
    if row is None:
        return None, int(count)
    portal_id, install_state, token = row  # the token comes decrypted (EncryptedTextField)
    identity = EventIdentity(
        portal_id=portal_id,
        is_active=install_state == Portal.InstallState.ACTIVE,
        token_digest=crypto.secret_digest(token) if token else "",
    )
    raw = json.dumps(identity.__dict__)
    redis.set(key, raw, ex=EVENT_IDENTITY_TTL_SECONDS)
    _identity_memo[member_id] = (raw, identity)
    return identity, int(count)
