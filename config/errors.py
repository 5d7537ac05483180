"""One error family for the whole project.

Services raise these; the DRF exception handler (tenants.api.keepwarm_exception_handler) and the
management commands turn them into one response shape: {"error": code, "detail": message}.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A failure the caller can understand and act on; `code` is stable, `message` is for people."""

    code = "application_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    code = "invalid"
    http_status = 400


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    http_status = 401


class PermissionDeniedError(ApplicationError):
    code = "permission_denied"
    http_status = 403


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class Conflict(ApplicationError):
    code = "conflict"
    http_status = 409


class RateLimited(ApplicationError):
    code = "rate_limited"
    http_status = 429
