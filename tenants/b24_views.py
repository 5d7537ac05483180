"""Endpoints Bitrix24 calls: the installer, the event handler and the application page.

They are cross-site POSTs from the portal (no CSRF token, possibly inside an iframe), so each
one authenticates the portal itself: install and app pages through the portal's OAuth server,
events through member_id + application_token. They answer fast and leave the rest to Celery.
"""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from config import ratelimits
from config.csp import frame_ancestors_allow, script_src_allow
from config.errors import ApplicationError, NotAuthenticated, RateLimited
from config.views import ratelimited
from crm_sync.bitrix.errors import BitrixError
from tenants import lifecycle
from tenants.models import Portal
from tenants.selectors import StaleEventGuard
from tenants.services import portal_iframe_token_issue

logger = logging.getLogger(__name__)


def _error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse(
        {"error": exc.code, "detail": exc.message, **exc.extra}, status=exc.http_status
    )


def _too_big(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.KEEPWARM_EVENT_MAX_BYTES


# Bitrix24's JS SDK, which the install page loads to tell the portal the install finished.
BITRIX_JS_SDK = "https://api.bitrix24.com"
# A host name with an optional port: nothing that could end or add a CSP directive.
_FRAME_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9\-.]{0,251}[a-z0-9])?(?::[0-9]{1,5})?$")


def _frame_headers(response: HttpResponse, domain: str) -> HttpResponse:
    """Only the portal's own pages may frame us: CSP frame-ancestors https://<its domain>.

    X-Frame-Options cannot name an origin, so these views are exempt from it; the CSP
    (config.csp) is the control, and every other page keeps frame-ancestors 'none'.
    """
    if not _FRAME_HOST_RE.match(domain or ""):
        logger.warning("portal domain unfit for frame-ancestors; framing refused")
        return response  # the default policy: frame-ancestors 'none'
    return frame_ancestors_allow(response, f"https://{domain}")


@csrf_exempt
@xframe_options_exempt
@require_POST
@ratelimit(key="ip", rate=ratelimits.install_rate, block=True)
def install_view(request):
    if _too_big(request):
        return JsonResponse({"error": "too_large", "detail": "Request body too large."}, status=413)
    try:
        install = lifecycle.install_request_parse(request.POST, request.GET)
        portal = lifecycle.portal_install(install)
    except ApplicationError as exc:
        logger.warning("install rejected", extra={"code": exc.code})
        return _error(exc)
    except BitrixError as exc:
        logger.warning("install could not be verified", extra={"code": exc.code})
        return JsonResponse(
            {
                "error": "install_not_verified",
                "detail": "The portal could not confirm the install.",
            },
            status=401 if exc.code in {"UNTRUSTED_OAUTH_SERVER"} or exc.http_status == 401 else 502,
        )
    response = render(request, "b24/install.html", {"portal": portal})
    script_src_allow(response, BITRIX_JS_SDK)
    return _frame_headers(response, portal.domain)


def _event_ids(post, event: str) -> list[int]:
    keys = ["data[FIELDS][ID]", "data[FIELDS_AFTER][ID]", "data[FIELDS_BEFORE][ID]", "data[ID]"]
    ids = []
    for key in keys:
        value = post.get(key, "")
        if value.isdigit() and len(value) < 19:
            ids.append(int(value))
    return ids[:1]


@csrf_exempt
@require_POST
def events_view(request):
    """One Bitrix24 event. Bitrix24 sends the next one only after this answer, so a burst of
    changes queues behind us: an event of a portal this process has seen is verified against its
    memo and queued in one Redis round trip, which re-checks the verification (and counts the
    rate); any other event, or one whose portal changed meanwhile, is verified from Redis or the
    database first (lifecycle.event_verify)."""
    if _too_big(request):
        logger.warning("oversized event rejected")
        return JsonResponse({"error": "too_large", "detail": "Event body too large."}, status=413)
    post = request.POST
    event = post.get("event", "")
    if not event or len(event) > 64 or not event.replace("_", "").isalnum():
        return JsonResponse(
            {"error": "invalid", "detail": "Missing or malformed event."}, status=400
        )
    try:
        try:
            return _event_take(post, event, memo=event.upper() != "ONAPPUNINSTALL")
        except StaleEventGuard:
            return _event_take(post, event, memo=False)
    except RateLimited:
        return ratelimited(request)
    except NotAuthenticated as exc:
        logger.warning(
            "event rejected",
            extra={"event": event[:64], "member_id": post.get("auth[member_id]", "")[:64]},
        )
        return _error(exc)


def _event_take(post, event: str, *, memo: bool) -> JsonResponse:
    from crm_sync.services import events_accept

    verified = lifecycle.event_verify(
        member_id=post.get("auth[member_id]", ""),
        application_token=post.get("auth[application_token]", ""),
        event=event,
        memo=memo,
    )
    name = verified.event
    if name == "ONAPPUNINSTALL":
        lifecycle.portal_uninstall(portal=Portal.objects.get(pk=verified.portal_id))
        return JsonResponse({"ok": True})
    if not verified.portal_is_active:
        return JsonResponse({"ok": True, "ignored": "portal not active"})
    if name.startswith("ONCRMDYNAMICITEM") and post.get("data[FIELDS][ENTITY_TYPE_ID]") != "31":
        return JsonResponse({"ok": True, "ignored": "not a smart invoice"})
    accepted = events_accept(
        portal_id=verified.portal_id,
        event=name,
        ids=_event_ids(post, name),
        guard=verified.guard,
    )
    return JsonResponse({"ok": True, "accepted": accepted})


@csrf_exempt
@xframe_options_exempt
@require_POST
@ratelimit(key="ip", rate=ratelimits.app_rate, block=True)
def app_view(request):
    """The application page inside Bitrix24 (main page and card tabs)."""
    post = request.POST
    member_id = post.get("member_id", "")
    try:
        portal = lifecycle.portal_for_member(member_id)
        user = lifecycle.app_page_user(
            portal=portal,
            server_endpoint=post.get("SERVER_ENDPOINT", ""),
            access_token=post.get("AUTH_ID", ""),
            member_id=member_id,
        )
    except ApplicationError as exc:
        return _error(exc)
    except BitrixError:
        return _error(NotAuthenticated("The portal could not confirm this page's token."))
    token = portal_iframe_token_issue(
        portal=portal, bitrix_user_id=user.bitrix_user_id, is_admin=user.is_admin
    )
    placement = post.get("PLACEMENT", "DEFAULT")[:64]
    try:
        options = json.loads(post.get("PLACEMENT_OPTIONS") or "{}")
    except json.JSONDecodeError:
        options = {}
    response = render(
        request,
        "b24/app.html",
        {
            "portal": portal,
            "token": token,
            "placement": placement,
            "entity_id": str(options.get("ID", ""))[:20] if isinstance(options, dict) else "",
        },
    )
    return _frame_headers(response, portal.domain)
