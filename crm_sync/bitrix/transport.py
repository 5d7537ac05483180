"""HTTP to Bitrix24: one pooled httpx client per process, explicit timeouts, no retries here."""

from __future__ import annotations

import functools
import json
import os
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from crm_sync.bitrix.errors import BitrixTransportError

USER_AGENT = "Keepwarm/1.0 (+https://keepwarm.example)"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any  # parsed JSON
    elapsed: float


@functools.cache
def _client(pid: int) -> httpx.Client:
    bundle = settings.BITRIX_CA_BUNDLE
    verify: Any = ssl.create_default_context(cafile=bundle) if bundle else True
    timeout = httpx.Timeout(settings.BITRIX_READ_TIMEOUT, connect=settings.BITRIX_CONNECT_TIMEOUT)
    return httpx.Client(
        timeout=timeout,
        verify=verify,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        follow_redirects=False,
    )


def http_client() -> httpx.Client:
    """The process's client (a forked worker gets its own, never its parent's sockets)."""
    return _client(os.getpid())


def _answer(response: httpx.Response, *, member_id: str, method: str) -> HttpAnswer:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BitrixTransportError(
            f"answer is not JSON (HTTP {response.status_code})",
            member_id=member_id,
            method=method,
            code="NOT_JSON",
            http_status=response.status_code,
        ) from exc
    return HttpAnswer(response.status_code, body, response.elapsed.total_seconds())


def _transport_error(exc: httpx.HTTPError, *, member_id: str, method: str) -> BitrixTransportError:
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    code = "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "CONNECTION_ERROR"
    return BitrixTransportError(
        f"{type(exc).__name__}: {exc}",
        member_id=member_id,
        method=method,
        code=code,
        maybe_executed=not never_sent,
    )


def post_json(url: str, payload: dict, *, member_id: str, method: str) -> HttpAnswer:
    try:
        response = http_client().post(url, json=payload)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, member_id=member_id, method=method) from exc
    return _answer(response, member_id=member_id, method=method)


def get(url: str, params: dict, *, member_id: str, method: str) -> HttpAnswer:
    try:
        response = http_client().get(url, params=params)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, member_id=member_id, method=method) from exc
    return _answer(response, member_id=member_id, method=method)


def query_encode(params: dict, prefix: str = "") -> str:
    """PHP-style nested query string (`filter[>ID]=5&select[0]=ID`) for batch commands."""
    parts: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for inner_key, inner in value.items():
                walk(inner, f"{key}[{quote(str(inner_key), safe='')}]" if key else str(inner_key))
        elif isinstance(value, list | tuple):
            for index, inner in enumerate(value):
                walk(inner, f"{key}[{index}]")
        else:
            if isinstance(value, bool):
                value = "Y" if value else "N"
            elif value is None:
                value = ""
            parts.append(f"{key}={quote(str(value), safe='')}")

    for key, value in params.items():
        walk(value, quote(str(key), safe="") if not prefix else f"{prefix}[{key}]")
    return "&".join(parts)
