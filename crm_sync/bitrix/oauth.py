"""Calls to a portal's OAuth server that happen before we hold stored credentials.

Install requests and iframe POSTs name their own OAuth server (`SERVER_ENDPOINT`), so only servers
on the KEEPWARM allowlist (settings.BITRIX_OAUTH_SERVERS) are ever asked, and only their answer
(not the request's own claims) decides which member_id a token belongs to.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from django.conf import settings

from crm_sync.bitrix.errors import BitrixAccessDenied, classify
from crm_sync.bitrix.registry import call_check
from crm_sync.bitrix.transport import post_json


@dataclass(frozen=True)
class AppInfo:
    client_id: str
    member_id: str
    domain: str
    client_endpoint: str
    scope: str
    installed: bool
    user_id: int | None


def oauth_server_trusted(server_endpoint: str) -> bool:
    return any(fnmatch.fnmatchcase(server_endpoint, p) for p in settings.BITRIX_OAUTH_SERVERS)


def oauth_app_info(*, server_endpoint: str, access_token: str, member_id: str) -> AppInfo:
    """Ask the OAuth server whom a token was issued to (app, portal, user)."""
    if not oauth_server_trusted(server_endpoint):
        raise BitrixAccessDenied(
            "the OAuth server named in the request is not a trusted Bitrix24 server",
            member_id=member_id,
            method="app.info",
            code="UNTRUSTED_OAUTH_SERVER",
        )
    result = _ask_with_token(server_endpoint, "app.info", access_token, member_id=member_id)
    install = result.get("install") or {}
    return AppInfo(
        client_id=str(result.get("client_id") or result.get("CODE") or ""),
        member_id=str(install.get("member_id") or ""),
        domain=str(install.get("domain") or ""),
        client_endpoint=str(install.get("client_endpoint") or ""),
        scope=str(install.get("scope") or result.get("scope") or ""),
        installed=bool(install.get("installed", result.get("INSTALLED", False))),
        user_id=int(result["user_id"]) if str(result.get("user_id", "")).isdigit() else None,
    )


def portal_user_is_admin(*, client_endpoint: str, access_token: str, member_id: str) -> bool:
    """Ask the portal (with the page user's own token) whether that user administers it.

    `profile` needs no scope. The endpoint is the one stored at install, never one named by the
    request, so a forged page cannot point the question at a server that answers "yes".
    """
    result = _ask_with_token(client_endpoint, "profile", access_token, member_id=member_id)
    return result.get("ADMIN") is True


def _ask_with_token(endpoint: str, method: str, access_token: str, *, member_id: str) -> dict:
    """Call a parameterless method with a token that is not ours to store; its `result`."""
    call_check(method, {}, member_id=member_id)
    url = f"{endpoint.rstrip('/')}/{method}.json"
    answer = post_json(url, {"auth": access_token}, member_id=member_id, method=method)
    body = answer.body if isinstance(answer.body, dict) else {}
    if "error" in body or answer.status != 200:
        raise classify(
            http_status=answer.status,
            code=str(body.get("error", "")),
            description=str(body.get("error_description", "")),
            member_id=member_id,
            method=method,
        )
    result = body.get("result")
    return result if isinstance(result, dict) else {}
