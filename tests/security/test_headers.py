"""Response headers of representative pages under the production settings.

The production settings module is loaded with throwaway secrets and its security settings
(HTTPS, HSTS, cookies, CSP, middleware) are applied to the test run; database, cache, Celery and
the Bitrix24 OAuth allow-list stay the test run's, so the pages can render against the test
database and the stand-in OAuth server.
"""

from __future__ import annotations

import importlib
import re
import secrets
from http.cookies import Morsel

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from tests.security.conftest import app_page_form

HOST = "keepwarm.example"
# Infrastructure, secrets and the OAuth allow-list stay the test run's own.
KEEP = re.compile(
    r"^(DATABASES|CACHES|CELERY_\w+|REDIS_URL|KEEPWARM_REDIS_NAMESPACE|STORAGES|PASSWORD_HASHERS"
    r"|SECRET_KEY|KEEPWARM_ENCRYPTION_KEYS|BITRIX_\w+|LOGGING)$"
)
# Production serves collected static files with WhiteNoise; tests never run collectstatic.
pytestmark = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")


@pytest.fixture
def production(settings, monkeypatch):
    """The test run, with config.settings.production's security settings in force."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", HOST)
    monkeypatch.setenv("KEEPWARM_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("BITRIX_CLIENT_ID", settings.BITRIX_CLIENT_ID)
    monkeypatch.setenv("BITRIX_CLIENT_SECRET", secrets.token_urlsafe(24))
    module = importlib.reload(importlib.import_module("config.settings.production"))
    for name in dir(module):
        if name.isupper() and not KEEP.match(name):
            setattr(settings, name, getattr(module, name))
    return module


def _client() -> Client:
    return Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")


def _csp(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name] = value.strip()
    return directives


def _assert_common(
    response, *, framed_by: str | None = None, x_frame_options: bool = True
) -> dict[str, str]:
    path = response.request["PATH_INFO"]
    csp = _csp(response)
    assert csp, f"{path}: no Content-Security-Policy"
    assert csp["default-src"] == "'self'", path
    assert csp["object-src"] == "'none'", path
    assert csp["base-uri"] == "'self'", path
    assert "'unsafe-inline'" not in csp["script-src"], path
    if framed_by:
        assert csp["frame-ancestors"] == framed_by, path
        assert "X-Frame-Options" not in response.headers, path  # cannot name an origin
    else:
        assert csp["frame-ancestors"] == "'none'", path
        if x_frame_options:
            assert response.headers["X-Frame-Options"] == "DENY", path
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path
    hsts = response.headers.get("Strict-Transport-Security", "")
    assert re.match(r"max-age=(\d+); includeSubDomains; preload$", hsts), (path, hsts)
    assert int(hsts.split("=")[1].split(";")[0]) >= 31_536_000, path
    server = response.headers.get("Server", "")
    assert not re.search(r"\d", server), f"{path}: Server header leaks a version: {server}"
    assert "X-Powered-By" not in response.headers, path
    if response.headers.get("Content-Type", "").startswith("text/html"):
        _assert_scripts_run_under(csp, response.content.decode(), path)
    return csp


def _assert_scripts_run_under(csp: dict[str, str], html: str, path: str) -> None:
    """Every script on the page is one the policy lets run: a file of ours, or the nonce."""
    sources = csp["script-src"].split()
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        src = re.search(r'\bsrc="([^"]*)"', tag)
        if src:
            url = src[1]
            ours = url.startswith("/") and not url.startswith("//")
            allowed = [s for s in sources if "://" in s]  # e.g. https://api.bitrix24.com
            listed = any(url.startswith((s, "//" + s.split("//", 1)[1])) for s in allowed)
            assert ours or listed, f"{path}: script from {url} is not allowed by {sources}"
            continue
        if 'type="application/json"' in tag or "type='application/json'" in tag:
            continue  # data (json_script), never executed
        nonce = re.search(r'\bnonce="([^"]+)"', tag)
        assert nonce and f"'nonce-{nonce[1]}'" in sources, f"{path}: inline {tag} without nonce"
    handlers = re.findall(r"<[a-z][^>]*\son[a-z]+\s*=", html, re.I)
    assert not handlers, f"{path}: inline event handlers are blocked by the policy: {handlers}"


def _assert_cookie(morsel: Morsel, *, samesite: str) -> None:
    assert morsel["secure"], f"{morsel.key} is not Secure"
    assert morsel["httponly"], f"{morsel.key} is not HttpOnly"
    assert morsel["samesite"] == samesite, f"{morsel.key}: SameSite={morsel['samesite']}"


def test_http_is_redirected_to_https(production, db):
    response = Client(HTTP_HOST=HOST).get("/security/")

    assert response.status_code == 301
    assert response["Location"] == f"https://{HOST}/security/"


@pytest.mark.parametrize(
    "path", ["/security/", "/security/data-use.json", "/api/docs/", "/api/schema/", "/healthz"]
)
def test_public_pages_send_the_security_headers(production, db, path):
    response = _client().get(path)

    assert response.status_code in (200, 500 if path == "/healthz" else 200)  # no worker here
    _assert_common(response)


def test_the_api_sends_the_security_headers(production, portal_factory, bearer):
    response = _client().get("/api/v1/portal/", **bearer(portal_factory()))

    assert response.status_code == 200
    _assert_common(response)


def test_the_back_office_sign_in_page_and_its_csrf_cookie(production, db):
    response = _client().get("/admin/login/")

    assert response.status_code == 200
    csp = _assert_common(response)
    assert "'unsafe-eval'" in csp["script-src"]  # Alpine.js in the back office, there only
    # The CSRF cookie must also reach us inside the Bitrix24 frame: SameSite=None; Secure.
    _assert_cookie(response.cookies["csrftoken"], samesite="None")


def test_the_session_cookie_is_secure_httponly_and_lax(production, db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="client-admin", password="a-long-passphrase-1")
    response = _client().post(
        "/accounts/login/", {"username": "client-admin", "password": "a-long-passphrase-1"}
    )

    assert response.status_code == 302
    _assert_common(response)
    _assert_cookie(response.cookies["sessionid"], samesite="Lax")


def test_the_language_cookie_works_inside_the_frame(production, db):
    response = _client().post("/i18n/setlang/", {"language": "en", "next": "/security/"})

    assert response.status_code == 302
    _assert_cookie(response.cookies["django_language"], samesite="None")


def test_the_bitrix24_app_page_may_be_framed_by_its_own_portal_only(
    production, portal_factory, oauth_server
):
    portal = portal_factory()
    form = app_page_form(portal, oauth_server.grant(portal), oauth_server)

    response = _client().post("/b24/app/", form)

    assert response.status_code == 200, response.content
    csp = _assert_common(response, framed_by=f"https://{portal.domain}")
    # The page's one inline script runs by the response's nonce; nothing else inline can.
    nonces = re.findall(r'<script nonce="([^"]+)"', response.content.decode())
    assert nonces and set(nonces) == {nonces[0]}
    assert f"'nonce-{nonces[0]}'" in csp["script-src"].split()
    assert "<script>" not in response.content.decode()


def test_a_refused_app_page_cannot_be_framed(production, portal_factory, oauth_server):
    portal = portal_factory()

    response = _client().post("/b24/app/", app_page_form(portal, "f" * 40, oauth_server))

    assert response.status_code == 401
    # The Bitrix24 views are exempt from X-Frame-Options (it cannot name an origin); CSP
    # frame-ancestors, which browsers prefer anyway, refuses every frame here.
    _assert_common(response, x_frame_options=False)


def test_the_wsgi_server_does_not_announce_its_version():
    import gunicorn

    assert not re.search(r"\d", gunicorn.SERVER), gunicorn.SERVER  # its Server header


def test_the_install_page_policy_adds_only_the_bitrix24_sdk(rf):
    """The install page (whose success needs a whole portal: tests/integration) in isolation."""
    from django.http import HttpResponse

    from config.csp import KeepwarmCSPMiddleware, script_src_allow
    from tenants.b24_views import BITRIX_JS_SDK, _frame_headers

    request = rf.post("/b24/install/")
    middleware = KeepwarmCSPMiddleware(lambda r: None)
    middleware.process_request(request)
    response = _frame_headers(HttpResponse(), "portal.bitrix24.ru")
    script_src_allow(response, BITRIX_JS_SDK)

    csp = _csp(middleware.process_response(request, response))

    assert csp["frame-ancestors"] == "https://portal.bitrix24.ru"
    assert csp["script-src"] == "'self' https://api.bitrix24.com"


@pytest.mark.parametrize(
    "domain", ["evil.example; script-src *", "a.example https://evil.example", "", "x'y"]
)
def test_a_domain_that_could_bend_the_policy_gets_no_frame_permission(rf, domain):
    from django.http import HttpResponse

    from config.csp import KeepwarmCSPMiddleware
    from tenants.b24_views import _frame_headers

    request = rf.post("/b24/app/")
    middleware = KeepwarmCSPMiddleware(lambda r: None)
    middleware.process_request(request)

    csp = _csp(middleware.process_response(request, _frame_headers(HttpResponse(), domain)))

    assert csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'"
