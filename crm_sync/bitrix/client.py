"""BitrixClient: one portal's REST calls, within its limits, logged, declared, typed.

    client = BitrixClient.for_portal(portal)
    contacts = client.call("crm.contact.list", {"select": ["ID"], "filter": {">ID": 0}})
    answers = client.batch({"a": ("crm.deal.list", {...}), "b": ("crm.activity.list", {...})})

Every call: is checked against the method registry (nothing undeclared is sent), waits for a slot
in the portal's shared request bucket and for its method's operating budget, carries the current
access token (refreshed once on `expired_token`), is retried with backoff and jitter on rate
limits, 5xx and timeouts (writes only when the portal cannot have executed them), and is written
to the portal's REST log with secrets masked.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from crm_sync.bitrix.errors import (
    BitrixError,
    BitrixOperationLimit,
    BitrixPortalDisconnected,
    BitrixRateLimited,
    BitrixTokenExpired,
    BitrixTransportError,
    classify,
)
from crm_sync.bitrix.limiter import OperatingBudget, RequestBucket
from crm_sync.bitrix.registry import call_check
from crm_sync.bitrix.tokens import access_token_refresh
from crm_sync.bitrix.transport import HttpAnswer, post_json, query_encode
from tenants.selectors import portal_credentials_get
from tenants.services import portal_mark_disconnected

logger = logging.getLogger(__name__)

MAX_BATCH = 50
_SECRET_KEYS = {
    "auth",
    "access_token",
    "refresh_token",
    "client_secret",
    "application_token",
    "auth_id",
    "refresh_id",
}
_LOG_EXCERPT = 4000
# Wait inline for a blocked method at most this long; beyond it the caller gets the error and
# reschedules (a task should not sleep for ten minutes holding a worker).
_MAX_INLINE_OPERATING_WAIT = 90.0


@dataclass
class BitrixAnswer:
    result: Any
    total: int | None = None
    next: int | None = None
    time: dict = field(default_factory=dict)


@dataclass
class BatchAnswer:
    results: dict[str, Any]
    errors: dict[str, BitrixError]
    totals: dict[str, int]
    nexts: dict[str, int]
    time: dict


def _mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: ("***" if str(key).lower() in _SECRET_KEYS else _mask(inner))
            for key, inner in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(item) for item in value]
    return value


def _reset_at(time_block: Mapping | None) -> float | None:
    if not time_block:
        return None
    value = time_block.get("operating_reset_at")
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value)).timestamp()
        except ValueError:
            return None


def _as_map(value: Any) -> dict:
    """Bitrix24 sends empty maps as [] (PHP arrays)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {}


class BitrixClient:
    def __init__(self, *, portal_id: int, member_id: str, plan: str, schema_name: str):
        self.portal_id = portal_id
        self.member_id = member_id
        self.schema_name = schema_name
        self.bucket = RequestBucket(portal_id, plan)
        self.operating = OperatingBudget(portal_id)
        self.requests_sent = 0
        self._access_token: str | None = None
        self._endpoint: str | None = None

    @classmethod
    def for_portal(cls, portal) -> BitrixClient:
        return cls(
            portal_id=portal.pk,
            member_id=portal.member_id,
            plan=portal.plan,
            schema_name=portal.schema_name,
        )

    # --- public API --------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> BitrixAnswer:
        params = dict(params or {})
        spec = call_check(method, params, member_id=self.member_id)
        body = self._send(method, params, write=spec.access == "write", methods=[method])
        return BitrixAnswer(
            result=body.get("result"),
            total=body.get("total"),
            next=body.get("next"),
            time=body.get("time") or {},
        )

    def batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], *, halt: bool = False
    ) -> BatchAnswer:
        if not commands:
            return BatchAnswer({}, {}, {}, {}, {})
        if len(commands) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} commands, got {len(commands)}")
        write = False
        cmd: dict[str, str] = {}
        methods: dict[str, str] = {}
        for key, (method, params) in commands.items():
            spec = call_check(method, params, member_id=self.member_id)
            write = write or spec.access == "write"
            methods[key] = method
            cmd[key] = f"{method}?{query_encode(dict(params))}"
        call_check("batch", {"cmd": cmd, "halt": int(halt)}, member_id=self.member_id)
        body = self._send(
            "batch",
            {"halt": 1 if halt else 0, "cmd": cmd},
            write=write,
            methods=sorted(set(methods.values())),
        )
        outer = body.get("result") or {}
        results = _as_map(outer.get("result"))
        raw_errors = _as_map(outer.get("result_error"))
        times = _as_map(outer.get("result_time"))
        errors: dict[str, BitrixError] = {}
        for key, error in raw_errors.items():
            error = error if isinstance(error, Mapping) else {"error": str(error)}
            errors[key] = classify(
                http_status=0,
                code=str(error.get("error", "")),
                description=str(error.get("error_description", "")),
                member_id=self.member_id,
                method=methods.get(key, "batch"),
            )
            if isinstance(errors[key], BitrixOperationLimit):
                reset = _reset_at(times.get(key)) or time.time() + 60
                errors[key].reset_at = reset
                self.operating.block(methods.get(key, "batch"), reset)
        for key, time_block in times.items():
            if key in methods and isinstance(time_block, Mapping):
                self.operating.observe(
                    methods[key], time_block.get("operating"), _reset_at(time_block)
                )
        return BatchAnswer(
            results=results,
            errors=errors,
            totals={k: int(v) for k, v in _as_map(outer.get("result_total")).items()},
            nexts={k: int(v) for k, v in _as_map(outer.get("result_next")).items()},
            time=body.get("time") or {},
        )

    # --- internals ---------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, str]:
        if self._access_token is None or self._endpoint is None:
            credentials = portal_credentials_get(portal_id=self.portal_id)
            if credentials is None:
                raise BitrixPortalDisconnected(
                    "the portal has no stored credentials", member_id=self.member_id
                )
            self._access_token = credentials.access_token
            self._endpoint = credentials.client_endpoint
        return self._endpoint, self._access_token

    def _wait_for_methods(self, methods: list[str]) -> None:
        until = max((self.operating.blocked_until(m) for m in methods), default=0.0)
        delay = until - time.time()
        if delay <= 0:
            return
        if delay > _MAX_INLINE_OPERATING_WAIT:
            raise BitrixOperationLimit(
                f"method blocked for {delay:.0f}s more by the operating-time limit",
                member_id=self.member_id,
                method=",".join(methods),
                code="OPERATION_TIME_LIMIT",
                reset_at=until,
            )
        time.sleep(delay)

    def _backoff(self, attempt: int, floor: float = 0.0) -> None:
        delay = min(30.0, 0.5 * (2 ** (attempt - 1)))
        time.sleep(max(floor, delay * random.uniform(0.5, 1.0)))  # noqa: S311 - jitter

    def _send(self, method: str, params: dict, *, write: bool, methods: list[str]) -> dict:
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            self._wait_for_methods(methods)
            self.bucket.acquire()
            endpoint, token = self._credentials()
            url = f"{endpoint.rstrip('/')}/{method}.json"
            started = time.monotonic()
            answer: HttpAnswer | None = None
            try:
                answer = post_json(
                    url, {**params, "auth": token}, member_id=self.member_id, method=method
                )
                error = self._error_of(answer, method)
            except BitrixTransportError as exc:
                error = exc
            self.requests_sent += 1
            self._log(method, params, answer, error, time.monotonic() - started)
            if error is None:
                body = answer.body
                time_block = body.get("time") or {}
                if method != "batch":
                    self.operating.observe(
                        method, time_block.get("operating"), _reset_at(time_block)
                    )
                return body
            if isinstance(error, BitrixTokenExpired) and not refreshed:
                refreshed = True
                self._access_token = access_token_refresh(
                    portal_id=self.portal_id, member_id=self.member_id, stale_access_token=token
                )
                continue
            if isinstance(error, BitrixPortalDisconnected):
                portal_mark_disconnected(portal_id=self.portal_id, reason=error.code or "revoked")
                raise error
            if attempt >= settings.BITRIX_MAX_ATTEMPTS or not self._may_retry(error, write):
                raise error
            if isinstance(error, BitrixRateLimited):
                self.bucket.saturate()
                self._backoff(attempt, floor=0.5)
            elif isinstance(error, BitrixOperationLimit):
                reset = error.reset_at or time.time() + 60
                self.operating.block(method, reset)
            else:
                self._backoff(attempt)

    @staticmethod
    def _may_retry(error: BitrixError, write: bool) -> bool:
        if not error.retryable:
            return False
        if not write:
            return True
        # A write is repeated only when the portal certainly did not execute it.
        if isinstance(error, BitrixRateLimited | BitrixOperationLimit):
            return True
        return isinstance(error, BitrixTransportError) and not error.maybe_executed

    def _error_of(self, answer: HttpAnswer, method: str) -> BitrixError | None:
        body = answer.body
        if isinstance(body, Mapping) and "error" in body:
            error = classify(
                http_status=answer.status,
                code=str(body.get("error") or ""),
                description=str(body.get("error_description") or ""),
                member_id=self.member_id,
                method=method,
            )
            if isinstance(error, BitrixOperationLimit):
                error.reset_at = _reset_at(body.get("time")) or _reset_at(body)
            return error
        if 200 <= answer.status < 300 and isinstance(body, Mapping) and "result" in body:
            return None
        return classify(
            http_status=answer.status,
            code="",
            description=f"unexpected answer (HTTP {answer.status})",
            member_id=self.member_id,
            method=method,
        )

    def _log(
        self,
        method: str,
        params: dict,
        answer: HttpAnswer | None,
        error: BitrixError | None,
        duration: float,
    ) -> None:
        from crm_sync.models import RestCallLog

        excerpt = ""
        size = 0
        if answer is not None:
            text = json.dumps(_mask(answer.body), ensure_ascii=False, default=str)
            size = len(text)
            excerpt = text[:_LOG_EXCERPT]
        entry = RestCallLog(
            method=method[:128],
            http_status=answer.status if answer is not None else None,
            error_code=(error.code or type(error).__name__)[:64] if error else "",
            duration_ms=int(duration * 1000),
            request=_mask(params),
            response={"excerpt": excerpt, "size": size, "error": str(error) if error else ""},
        )
        if connection.schema_name == self.schema_name:
            entry.save()
        else:
            with schema_context(self.schema_name):
                entry.save()
