"""Content-Security-Policy: one strict policy for every page, loosened only where stated.

django-csp writes the header (settings.CONTENT_SECURITY_POLICY, with a per-request script nonce).
On top of it:
- `frame_ancestors_allow(response, origin)`: the Bitrix24 pages (install, app) may be framed by
  their own portal's origin only; every other page answers `frame-ancestors 'none'`.
- `script_src_allow(response, source)`: one page adds a script origin (the install page loads
  Bitrix24's JS SDK).
- The back office (Django admin with the Unfold theme) runs Alpine.js, which compiles its
  `x-data` expressions with `Function()`, so admin pages, and only they, get 'unsafe-eval'.
"""

from __future__ import annotations

from csp.constants import UNSAFE_EVAL
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

ADMIN_PREFIX = "/admin/"


def frame_ancestors_allow(response: HttpResponseBase, *origins: str) -> HttpResponseBase:
    """Let exactly these origins (e.g. "https://portal.bitrix24.ru") frame this response."""
    response.keepwarm_frame_ancestors = list(origins)
    return response


def script_src_allow(response: HttpResponseBase, *sources: str) -> HttpResponseBase:
    """Add script sources to this response's policy (on top of 'self' and the nonce)."""
    response.keepwarm_script_src = [*getattr(response, "keepwarm_script_src", []), *sources]
    return response


class KeepwarmCSPMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        update = dict(parts.update or {})
        replace = dict(parts.replace or {})
        ancestors = getattr(response, "keepwarm_frame_ancestors", None)
        if ancestors:
            replace["frame-ancestors"] = ancestors
        extra_scripts = list(getattr(response, "keepwarm_script_src", []))
        if request.path_info.startswith(ADMIN_PREFIX):
            extra_scripts.append(UNSAFE_EVAL)
        if extra_scripts:
            update["script-src"] = [*update.get("script-src", []), *extra_scripts]
        parts.update = update or None
        parts.replace = replace or None
        return parts
