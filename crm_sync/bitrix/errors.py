"""Typed Bitrix24 errors: each says which portal, which method and which Bitrix24 error code."""

from __future__ import annotations


class BitrixError(Exception):
    """Base of every failure talking to a portal."""

    retryable = False

    def __init__(
        self,
        description: str,
        *,
        member_id: str = "",
        method: str = "",
        code: str = "",
        http_status: int | None = None,
    ):
        self.description = description
        self.member_id = member_id
        self.method = method
        self.code = code
        self.http_status = http_status
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"portal {self.member_id or '?'}, method {self.method or '?'}"
        code = f" [{self.code}]" if self.code else ""
        status = f" HTTP {self.http_status}" if self.http_status else ""
        return f"{where}:{status}{code} {self.description}".strip()


class UndeclaredCall(BitrixError):
    """The method or a field is not in the method registry; nothing was sent."""


class BitrixTransportError(BitrixError):
    """No usable HTTP answer (connection refused, timeout, garbage body).

    `maybe_executed` is False only when the request certainly never reached the portal
    (connection refused), which makes even a write safe to repeat.
    """

    retryable = True

    def __init__(self, *args, maybe_executed: bool = True, **kwargs):
        self.maybe_executed = maybe_executed
        super().__init__(*args, **kwargs)


class BitrixServerError(BitrixError):
    """HTTP 5xx other than the rate limit."""

    retryable = True


class BitrixRateLimited(BitrixError):
    """503 QUERY_LIMIT_EXCEEDED: refused before execution, always safe to retry."""

    retryable = True


class BitrixOperationLimit(BitrixError):
    """429 OPERATION_TIME_LIMIT: this method is blocked until `reset_at` (unix time)."""

    retryable = True

    def __init__(self, *args, reset_at: float | None = None, **kwargs):
        self.reset_at = reset_at
        super().__init__(*args, **kwargs)


class BitrixTokenExpired(BitrixError):
    """401 expired_token: refresh once and repeat."""


class BitrixPortalDisconnected(BitrixError):
    """The portal revoked us (uninstalled, invalid_token, refresh token dead)."""


class BitrixAccessDenied(BitrixError):
    """403: missing scope, user permissions, or a method-level denial."""


class BitrixNotFound(BitrixError):
    """The record or the method does not exist."""


class BitrixRequestError(BitrixError):
    """4xx that will not change on retry (bad parameters and the like)."""


def classify(
    *, http_status: int, code: str, description: str, member_id: str, method: str
) -> BitrixError:
    """Map a Bitrix24 error answer to its typed exception."""
    upper = (code or "").upper()
    kwargs = {"member_id": member_id, "method": method, "code": code, "http_status": http_status}
    if upper == "QUERY_LIMIT_EXCEEDED":
        return BitrixRateLimited(description or "too many requests", **kwargs)
    if upper == "OPERATION_TIME_LIMIT":
        return BitrixOperationLimit(description or "method operating time exhausted", **kwargs)
    if upper == "EXPIRED_TOKEN":
        return BitrixTokenExpired(description or "access token expired", **kwargs)
    if upper in {"INVALID_TOKEN", "INVALID_GRANT", "PORTAL_DELETED", "APPLICATION_NOT_FOUND"}:
        return BitrixPortalDisconnected(description or "the portal revoked our access", **kwargs)
    if upper in {"NO_AUTH_FOUND", "ERROR_OAUTH", "WRONG_CLIENT", "INVALID_CLIENT"}:
        return BitrixPortalDisconnected(description or "authorization rejected", **kwargs)
    if upper in {"ERROR_METHOD_NOT_FOUND", "NOT_FOUND"} or http_status == 404:
        return BitrixNotFound(description or "not found", **kwargs)
    if upper in {"ACCESS_DENIED", "INSUFFICIENT_SCOPE", "WRONG_AUTH_TYPE"} or http_status == 403:
        return BitrixAccessDenied(description or "access denied", **kwargs)
    if http_status >= 500 or upper in {"INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER"}:
        return BitrixServerError(description or "server error", **kwargs)
    return BitrixRequestError(description or "request rejected", **kwargs)
