"""A portal's life as Bitrix24 tells it: install, re-install, events, uninstall, deletion.

Everything here verifies before it writes. An install request is believed only after the
portal's OAuth server (on our allowlist) confirms which member_id and application the token
belongs to; an event only when its member_id is ours and its application_token matches the one
stored for that portal.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config import ratelimits
from config.errors import NotAuthenticated, RateLimited, ValidationFailed
from tenants import crypto
from tenants.models import Portal, PortalCredentials
from tenants.selectors import (
    EventGuard,
    portal_event_guard,
    portal_event_identity,
    portal_event_identity_memo,
)
from tenants.services import (
    portal_create,
    portal_credentials_save,
    portal_delete,
    portal_event_identity_forget,
)

logger = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"^[A-Za-z0-9._\-]{8,512}$")
_MEMBER_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-.:]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class InstallRequest:
    member_id: str
    domain: str
    access_token: str
    refresh_token: str
    expires_in: int
    server_endpoint: str
    application_token: str
    scope: str


def install_request_parse(form, query) -> InstallRequest:
    """Validate the installer POST (notes §1.4); every problem is a 400 with its field."""

    def field(name: str, *alternatives: str, source=form) -> str:
        for key in (name, *alternatives):
            value = source.get(key)
            if value:
                return str(value).strip()
        return ""

    data = InstallRequest(
        member_id=field("member_id"),
        domain=field("DOMAIN", source=query) or field("DOMAIN"),
        access_token=field("AUTH_ID"),
        refresh_token=field("REFRESH_ID"),
        expires_in=int(field("AUTH_EXPIRES") or 3600) if field("AUTH_EXPIRES").isdigit() else 3600,
        server_endpoint=field("SERVER_ENDPOINT"),
        application_token=field("APPLICATION_TOKEN", "application_token"),
        scope=field("APPLICATION_SCOPE"),
    )
    problems = {}
    if not _MEMBER_RE.match(data.member_id):
        problems["member_id"] = "missing or malformed"
    if not _DOMAIN_RE.match(data.domain):
        problems["DOMAIN"] = "missing or malformed"
    for name, value in (("AUTH_ID", data.access_token), ("REFRESH_ID", data.refresh_token)):
        if not _TOKEN_RE.match(value):
            problems[name] = "missing or malformed"
    if data.application_token and not _TOKEN_RE.match(data.application_token):
        problems["APPLICATION_TOKEN"] = "malformed"  # noqa: S105 - a field name
    if not data.server_endpoint.startswith(("https://", "http://")):
        problems["SERVER_ENDPOINT"] = "missing or malformed"
    if problems:
        raise ValidationFailed("The install request is incomplete.", extra={"fields": problems})
    return data


def portal_install(request: InstallRequest) -> Portal:
    """Create or update the portal from a verified install request; never a duplicate."""
    from assistants.selectors import ladder_status_items
    from crm_sync.bitrix.oauth import oauth_app_info
    from crm_sync.services import portal_bootstrap, sync_run_create

    info = oauth_app_info(
        server_endpoint=request.server_endpoint,
        access_token=request.access_token,
        member_id=request.member_id,
    )
    if info.member_id != request.member_id:
        raise NotAuthenticated(
            "The install token belongs to another portal.", code="install_not_verified"
        )
    if info.client_id and info.client_id != settings.BITRIX_CLIENT_ID:
        raise NotAuthenticated(
            "The install token was issued to another application.", code="install_not_verified"
        )
    client_endpoint = info.client_endpoint or f"https://{request.domain}/rest/"
    connection.set_schema_to_public()
    portal = Portal.objects.filter(member_id=request.member_id).first()
    if portal is None:
        portal = portal_create(member_id=request.member_id, domain=info.domain or request.domain)
    with transaction.atomic():
        Portal.objects.filter(pk=portal.pk).update(
            domain=(info.domain or request.domain).lower(),
            region=_region(info.domain or request.domain),
            install_state=Portal.InstallState.ACTIVE,
            installed_at=timezone.now(),
            uninstalled_at=None,
        )
        portal_credentials_save(
            portal=portal,
            client_endpoint=client_endpoint,
            server_endpoint=request.server_endpoint,
            access_token=request.access_token,
            refresh_token=request.refresh_token,
            expires_in=request.expires_in,
            application_token=request.application_token or _stored_application_token(portal),
            scope=info.scope or request.scope,
            bitrix_user_id=info.user_id,
        )
    portal.refresh_from_db()
    with portal:
        status_items = ladder_status_items()
        portal_bootstrap(portal=portal, status_items=status_items)
        with transaction.atomic():
            sync_run_create(kind="full")
    logger.info("portal installed", extra={"portal_id": portal.pk})
    return portal


def _stored_application_token(portal: Portal) -> str:
    credentials = PortalCredentials.objects.filter(portal=portal).first()
    return credentials.application_token if credentials else ""


def _region(domain: str) -> str:
    tld = domain.rsplit(".", 1)[-1].lower() if "." in domain else ""
    return tld if tld in {"ru", "by", "kz", "com", "de", "eu", "ua", "uz"} else ""


@dataclass(frozen=True)
class VerifiedEvent:
    portal_id: int
    portal_is_active: bool
    event: str
    # Set when verified against this process's memo: the intake must re-check it (and count the
    # event against the rate) in the same Redis call that queues the ids.
    guard: EventGuard | None = None


def event_verify(
    *, member_id: str, application_token: str, event: str, memo: bool = False
) -> VerifiedEvent:
    """Only events of a portal we know, signed with its application token, get through, and at
    most KEEPWARM_RATE_EVENTS of them per member_id.

    The stored token is compared as a keyed digest (the caches hold the digest, never the token),
    in constant time. With `memo`, an active portal's event whose token matches this process's
    memo comes back with a guard and no Redis call; only the event intake may use that, because
    it re-checks the guard atomically. Any other outcome is decided from Redis or the database.
    """
    generic = NotAuthenticated("The event is not from a connected portal.", code="event_rejected")
    if not _MEMBER_RE.match(member_id or "") or not application_token:
        raise generic
    digest = crypto.secret_digest(application_token)
    limit, window = ratelimits.rate_split(settings.KEEPWARM_RATE_EVENTS)
    remembered = portal_event_identity_memo(member_id=member_id) if memo else None
    if remembered is not None:
        raw, identity = remembered
        if (
            identity.is_active
            and identity.token_digest
            and hmac.compare_digest(identity.token_digest, digest)
        ):
            guard = portal_event_guard(
                member_id=member_id,
                identity_value=raw,
                rate_window_seconds=window,
                rate_limit=limit,
            )
            return VerifiedEvent(
                portal_id=identity.portal_id,
                portal_is_active=True,
                event=event.upper(),
                guard=guard,
            )
    identity, count = portal_event_identity(member_id=member_id, rate_window_seconds=window)
    if count > limit:
        raise RateLimited("Too many events; slow down and retry later.")
    if identity is None or not identity.token_digest:
        raise generic
    if not hmac.compare_digest(identity.token_digest, digest):
        raise generic
    return VerifiedEvent(
        portal_id=identity.portal_id, portal_is_active=identity.is_active, event=event.upper()
    )


def portal_uninstall(*, portal: Portal) -> None:
    """Stop all work now; the data goes after the retention period (purge_uninstalled)."""
    Portal.objects.filter(pk=portal.pk).update(
        install_state=Portal.InstallState.UNINSTALLED,
        uninstalled_at=timezone.now(),
        updated_at=timezone.now(),
    )
    # Bitrix24 revoked our tokens on uninstall: keep nothing that could be mistaken for access.
    PortalCredentials.objects.filter(portal=portal).update(access_token="", refresh_token="")
    portal_event_identity_forget(member_id=portal.member_id)
    logger.info("portal uninstalled", extra={"portal_id": portal.pk})


def purge_uninstalled_portals(*, now=None) -> int:
    """Drop the schemas of portals uninstalled longer than the retention period ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.KEEPWARM_UNINSTALL_RETENTION_DAYS)
    doomed = list(
        Portal.objects.filter(
            install_state=Portal.InstallState.UNINSTALLED, uninstalled_at__lt=cutoff
        )
    )
    for portal in doomed:
        portal_delete(portal=portal)
    return len(doomed)


def portal_for_member(member_id: str) -> Portal:
    connection.set_schema_to_public()
    portal = (
        Portal.objects.filter(member_id=member_id or "").first()
        if _MEMBER_RE.match(member_id or "")
        else None
    )
    if portal is None or not portal.is_active:
        raise NotAuthenticated("This portal has not installed Keepwarm.", code="unknown_portal")
    return portal


@dataclass(frozen=True)
class PageUser:
    bitrix_user_id: int | None
    is_admin: bool


def app_page_user(
    *, portal: Portal, server_endpoint: str, access_token: str, member_id: str
) -> PageUser:
    """Who opened the application page: Bitrix24 confirms the token, then says if it's an admin.

    The OAuth server vouches for the token's portal; `profile`, asked at the portal's stored REST
    endpoint with the same token, says whether its user administers the portal. If the portal
    cannot answer that, the page still opens, without administrator rights (fail closed).
    """
    from crm_sync.bitrix.errors import BitrixError
    from crm_sync.bitrix.oauth import oauth_app_info, portal_user_is_admin

    info = oauth_app_info(
        server_endpoint=server_endpoint, access_token=access_token, member_id=member_id
    )
    if info.member_id != portal.member_id:
        raise NotAuthenticated("The page was opened with another portal's token.")
    credentials = PortalCredentials.objects.filter(portal=portal).first()
    if credentials is None:
        return PageUser(info.user_id, False)
    try:
        is_admin = portal_user_is_admin(
            client_endpoint=credentials.client_endpoint,
            access_token=access_token,
            member_id=portal.member_id,
        )
    except BitrixError as exc:
        logger.warning("portal %s: profile unavailable (%s); page opened without admin rights",
                       portal.member_id, exc)  # fmt: skip
        is_admin = False
    return PageUser(info.user_id, is_admin)
