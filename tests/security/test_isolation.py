"""Tenant isolation over every URL the project serves.

`ROUTES` is the coverage table: every route (by its namespaced name, or its pattern when it has
no name) says how it is isolated and names the probe that proves it. The back office is covered
as a whole by `NAMESPACES`. `test_every_route_is_in_the_coverage_table` fails when a route is
added without an entry (or an entry outlives its route).

The proofs, against two portals A and B that both hold data (tests/security/conftest.py):
- every portal route, for each of A's principals (API token, iframe token, client-admin
  session, and a user of both portals whose session chose A): B's objects answer 403/404 and
  change nothing, lists and aggregates hold A's rows only, and writes land in A's schema only;
- every portal route refuses requests without portal credentials (anonymous, vendor staff
  without a membership, a forged or foreign token, a portal that is no longer installed);
- public routes reveal no portal's data, whoever asks, and those Bitrix24 calls verify the
  portal through its own credentials before they touch anything;
- every back-office route refuses portal principals (it is for vendor staff with 2FA only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.api import PortalScopedAPIView, PortalScopedViewSet
from tests.conftest import in_portal
from tests.security.conftest import (
    B_ONLY_CLIENT,
    B_ONLY_ID,
    PRINCIPALS,
    World,
    app_page_form,
    principal_login,
)

API = "/api/v1"


# --- the routes the project serves ----------------------------------------------------------


@dataclass(frozen=True)
class ServedRoute:
    key: str  # "namespace:name", or the full pattern when the route has no name
    pattern: str
    namespace: str
    callback: Callable


def served_routes(resolver=None, prefix: str = "", namespace: str = "") -> list[ServedRoute]:
    """Every URL pattern of the project, walked recursively through every include()."""
    resolver = resolver or get_resolver()
    found: list[ServedRoute] = []
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            found.extend(served_routes(entry, pattern, inner))
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            found.append(ServedRoute(name or pattern, pattern, namespace, entry.callback))
    return found


def _is_portal_view(callback) -> bool:
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return isinstance(view, type) and issubclass(view, PortalScopedAPIView | PortalScopedViewSet)


# --- helpers ----------------------------------------------------------------------------------


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def assert_reveals_nothing_of(response, *sides) -> None:
    body = _body(response)
    for side in sides:
        for secret in side.secrets:
            assert secret not in body, f"{response.request['PATH_INFO']} revealed {secret!r}"


def assert_denied(response) -> None:
    assert response.status_code in (403, 404), (response.status_code, _body(response)[:300])


def _results(response) -> list[dict]:
    assert response.status_code == 200, (response.status_code, _body(response)[:300])
    body = response.json()
    return body["results"] if isinstance(body, dict) and "results" in body else body


# --- probes of portal routes: (client, request headers, world) --------------------------------


def probe_portal_detail(client, headers, world: World):
    response = client.get(f"{API}/portal/", **headers)
    assert response.status_code == 200
    assert response.json()["member_id"] == world.a.portal.member_id
    assert_reveals_nothing_of(response, world.b)


def probe_token_issue(client, headers, world: World):
    from tenants.tokens import portal_token_verify

    response = client.post(f"{API}/auth/token/", **headers)
    assert response.status_code == 200
    claims = portal_token_verify(response.json()["token"])
    assert (claims.portal_id, claims.member_id) == (world.a.portal.pk, world.a.portal.member_id)


def probe_staff_access(client, headers, world: World):
    response = client.get(f"{API}/audit/staff-access/", **headers)
    assert [row["detail"] for row in _results(response)] == [world.a.marker]
    assert_reveals_nothing_of(response, world.b)


def probe_sync_status(client, headers, world: World):
    response = client.get(f"{API}/sync/status/", **headers)
    assert response.status_code == 200
    counts = {row["entity"]: row["records"] for row in response.json()["entities"]}
    assert counts["contact"] == len(world.a.ids["contact"])  # B has more
    assert_reveals_nothing_of(response, world.b)


def probe_rest_call_list(client, headers, world: World):
    response = client.get(f"{API}/sync/rest-calls/", **headers)
    rows = _results(response)
    assert [(r["id"], r["method"]) for r in rows] == [
        (world.a.ids["rest_call"][0], "crm.contact.list")
    ]
    assert_reveals_nothing_of(response, world.b)
    filtered = client.get(f"{API}/sync/rest-calls/?method=crm.company.list", **headers)
    assert _results(filtered) == []


def probe_rest_call_detail(client, headers, world: World):
    assert_denied(client.get(f"{API}/sync/rest-calls/{B_ONLY_ID}/", **headers))
    shared = world.b.ids["rest_call"][0]  # B has a row under this id, and so does A
    response = client.get(f"{API}/sync/rest-calls/{shared}/", **headers)
    assert response.status_code == 200
    assert response.json()["method"] == "crm.contact.list"
    assert_reveals_nothing_of(response, world.b)


def probe_assistant_settings(client, headers, world: World):
    from assistants.models import AssistantSettings

    response = client.get(f"{API}/assistants/settings/", **headers)
    assert response.status_code == 200
    assert world.a.marker in _body(response)
    assert_reveals_nothing_of(response, world.b)
    with in_portal(world.b.portal):
        b_versions = list(AssistantSettings.objects.values_list("version", "created_by"))
    with in_portal(world.a.portal):
        a_versions = AssistantSettings.objects.count()
    document = response.json()["document"]
    saved = client.put(
        f"{API}/assistants/settings/", {"document": document}, content_type="application/json",
        **headers,
    )  # fmt: skip
    assert saved.status_code == 200, saved.content
    with in_portal(world.b.portal):
        assert list(AssistantSettings.objects.values_list("version", "created_by")) == b_versions
    with in_portal(world.a.portal):
        assert AssistantSettings.objects.count() == a_versions + 1


def probe_assistant_preview(client, headers, world: World):
    response = client.get(f"{API}/assistants/preview/", **headers)
    assert response.status_code == 200
    planned = {row["client_id"] for row in response.json()["planned"]}
    assert planned == set(world.a.ids["contact"])  # A's forgotten contact; B has one more
    assert_reveals_nothing_of(response, world.b)


def probe_client_history(client, headers, world: World):
    foreign = client.get(f"{API}/assistants/clients/3/{B_ONLY_CLIENT}/history/", **headers)
    if foreign.status_code == 200:  # an unknown client of A's: an empty history, nothing of B's
        body = foreign.json()
        assert (body["events"], body["decisions"], body["status"]) == ([], [], None)
    else:
        assert_denied(foreign)
    assert_reveals_nothing_of(foreign, world.b)
    own = client.get(f"{API}/assistants/clients/3/10/history/", **headers)  # id 10: both portals
    assert own.status_code == 200
    assert [event["reason"] for event in own.json()["events"]] == [world.a.marker]
    assert_reveals_nothing_of(own, world.b)


def probe_decision_list(client, headers, world: World):
    response = client.get(f"{API}/assistants/decisions/", **headers)
    assert [row["id"] for row in _results(response)] == world.a.ids["decision"]
    assert_reveals_nothing_of(response, world.b)
    filtered = client.get(f"{API}/assistants/decisions/?client_id={B_ONLY_CLIENT}", **headers)
    assert _results(filtered) == []


def probe_decision_detail(client, headers, world: World):
    assert_denied(client.get(f"{API}/assistants/decisions/{B_ONLY_ID}/", **headers))
    shared = world.b.ids["decision"][0]
    response = client.get(f"{API}/assistants/decisions/{shared}/", **headers)
    assert response.status_code == 200
    assert response.json()["facts"] == {"m": world.a.marker}
    assert_reveals_nothing_of(response, world.b)


def probe_decision_undo(client, headers, world: World):
    from assistants.models import ClientEvent, Decision

    response = client.post(f"{API}/assistants/decisions/{B_ONLY_ID}/undo/", **headers)
    assert_denied(response)
    assert_reveals_nothing_of(response, world.b)
    with in_portal(world.b.portal):
        assert Decision.objects.get(pk=B_ONLY_ID).status == Decision.Status.DONE
        assert not Decision.objects.filter(undo_of_id=B_ONLY_ID).exists()
        assert not ClientEvent.objects.filter(kind="undo_requested").exists()


def probe_decision_approve_pass(client, headers, world: World):
    from assistants.models import Decision

    response = client.post(
        f"{API}/assistants/decisions/approve-pass/{world.b.ids['pass'][0]}/", **headers
    )
    if response.status_code == 200:
        assert response.json() == {"approved": 0}  # A has no such pass: nothing approved
    else:
        assert_denied(response)
    with in_portal(world.b.portal):
        held = Decision.objects.get(pk=world.b.ids["decision"][0])
        assert held.status == Decision.Status.AWAITING_APPROVAL


def probe_ladder_reindex(client, headers, world: World):
    from assistants.models import ClientEvent, ClientState
    from crm_sync.models import Contact, UserFieldDefinition

    for side in (world.a, world.b):  # contact 10 of each portal now carries a status
        with in_portal(side.portal):
            UserFieldDefinition.objects.get_or_create(
                entity="CRM_CONTACT",
                field_name="UF_CRM_KEEPWARM_STATUS",
                defaults={"user_type_id": "enumeration",
                          "enum_items": [{"id": 102, "value": "Hot", "xml_id": "hot"}]},
            )  # fmt: skip
            Contact.objects.filter(id=10).update(uf={"UF_CRM_KEEPWARM_STATUS": "102"})
    with in_portal(world.b.portal):
        b_before = (list(ClientState.objects.values_list("client_id", "status", "status_since")),
                    ClientEvent.objects.count())  # fmt: skip
    response = client.post(f"{API}/assistants/ladder/reindex/", **headers)
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"taken_in", "cleared", "skipped"}
    with in_portal(world.a.portal):
        assert ClientState.objects.get(entity_type_id=3, client_id=10).status == "hot"
    with in_portal(world.b.portal):
        b_after = (list(ClientState.objects.values_list("client_id", "status", "status_since")),
                   ClientEvent.objects.count())  # fmt: skip
    assert b_after == b_before


def probe_snoozes(client, headers, world: World):
    from assistants.models import ClientSnooze

    response = client.get(f"{API}/assistants/snoozes/", **headers)
    assert world.b.marker not in {row["reason"] for row in _results(response)}
    assert set(world.a.ids["snooze"]) <= {row["id"] for row in _results(response)}
    assert_reveals_nothing_of(response, world.b)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    with in_portal(world.a.portal):
        a_count = ClientSnooze.objects.count()
    created = client.post(
        f"{API}/assistants/snoozes/",
        {"entity_type_id": 3, "client_id": B_ONLY_CLIENT, "until": tomorrow, "reason": "a's"},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201, created.content
    with in_portal(world.b.portal):
        assert sorted(ClientSnooze.objects.values_list("id", flat=True)) == world.b.ids["snooze"]
    with in_portal(world.a.portal):
        assert ClientSnooze.objects.count() == a_count + 1


def probe_absences(client, headers, world: World):
    from assistants.models import ManagerAbsence

    response = client.get(f"{API}/assistants/absences/", **headers)
    rows = _results(response)
    assert {row["user_id"] for row in rows} <= {5, 9}  # B's absentees are users 7 and 8
    assert world.a.ids["absence"][0] in {row["id"] for row in rows}
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    with in_portal(world.a.portal):
        a_count = ManagerAbsence.objects.filter(user_id=9).count()
    created = client.post(
        f"{API}/assistants/absences/",
        {"user_id": 9, "starts_on": tomorrow, "ends_on": tomorrow},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201, created.content
    with in_portal(world.b.portal):
        assert not ManagerAbsence.objects.filter(user_id=9).exists()
    with in_portal(world.a.portal):
        assert ManagerAbsence.objects.filter(user_id=9).count() == a_count + 1


def probe_rest_usage(client, headers, world: World):
    response = client.get(f"{API}/analytics/rest-usage/?days=30", **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["total_calls"] == len(world.a.ids["rest_call"])
    assert {row["method"] for row in body["methods"]} == {"crm.contact.list"}
    assert_reveals_nothing_of(response, world.b)


# --- probes of public routes: (client, world, oauth_server) -> responses to inspect -----------


def probe_login(client, world, oauth_server):
    return [
        client.get("/accounts/login/"),
        client.post("/accounts/login/", {"username": "admin-b", "password": "wrong-password"}),
    ]


def probe_logout(client, world, oauth_server):
    return [client.post("/accounts/logout/")]


def probe_healthz(client, world, oauth_server):
    return [client.get("/healthz?format=json")]


def probe_schema(client, world, oauth_server):
    return [client.get("/api/schema/")]


def probe_docs(client, world, oauth_server):
    return [client.get("/api/docs/")]


def probe_sheet(client, world, oauth_server):
    return [client.get("/security/?lang=en"), client.get("/security/?lang=ru")]


def probe_sheet_json(client, world, oauth_server):
    return [client.get("/security/data-use.json")]


def probe_sheet_pdf(client, world, oauth_server):
    return [client.get("/security/data-use.pdf")]


def probe_set_language(client, world, oauth_server):
    return [client.post("/i18n/setlang/", {"language": "en", "next": "/security/"})]


def probe_b24_install(client, world, oauth_server):
    """An install claiming B's member_id with a token the OAuth server issued in A: refused."""
    from tenants.models import PortalCredentials

    before = list(PortalCredentials.objects.filter(portal=world.b.portal).values())
    a_token = oauth_server.grant(world.a.portal)
    response = client.post(
        f"/b24/install/?DOMAIN={world.b.portal.domain}",
        {
            "member_id": world.b.portal.member_id,
            "AUTH_ID": a_token,
            "REFRESH_ID": "r" * 32,
            "SERVER_ENDPOINT": oauth_server.endpoint,
            "APPLICATION_TOKEN": "t" * 32,
        },
    )
    assert response.status_code == 401, response.content
    assert list(PortalCredentials.objects.filter(portal=world.b.portal).values()) == before
    return [response]


def probe_b24_events(client, world, oauth_server):
    """An event naming B, signed with A's application token: refused, nothing queued for B."""
    from crm_sync.services import _pending_key
    from tenants.locks import redis_client
    from tenants.services import portal_credentials_save

    for side, token in ((world.a, "app-token-of-a-0123456789"), (world.b, "app-token-of-b-98765")):
        portal_credentials_save(
            portal=side.portal, client_endpoint=f"https://{side.portal.domain}/rest/",
            server_endpoint="https://oauth.bitrix.info/rest/", access_token="a" * 32,
            refresh_token="r" * 32, expires_in=3600, application_token=token,
        )  # fmt: skip
    response = client.post(
        "/b24/events/",
        {
            "event": "ONCRMCONTACTUPDATE",
            "data[FIELDS][ID]": "42",
            "auth[member_id]": world.b.portal.member_id,
            "auth[application_token]": "app-token-of-a-0123456789",
        },
    )
    assert response.status_code == 401
    assert redis_client().smembers(_pending_key(world.b.portal.pk, "contact")) == set()
    return [response]


def probe_b24_app(client, world, oauth_server):
    """The app page opened with B's member_id but a user token of A: refused, no token for B."""
    a_token = oauth_server.grant(world.a.portal)
    forged = client.post("/b24/app/", app_page_form(world.b.portal, a_token, oauth_server))
    assert forged.status_code == 401, forged.content
    unknown = client.post(
        "/b24/app/", app_page_form(world.b.portal, "f" * 40, oauth_server)
    )  # a token the OAuth server never issued
    assert unknown.status_code == 401
    return [forged, unknown]


# --- the coverage table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Covered:
    kind: str  # "portal", "public" or "bitrix24"
    isolation: str  # how the route is bound to one portal, or why it is public
    probe: Callable


def portal(isolation: str, probe: Callable) -> Covered:
    return Covered("portal", isolation, probe)


def public(why: str, probe: Callable) -> Covered:
    return Covered("public", why, probe)


def bitrix24(verifies: str, probe: Callable) -> Covered:
    return Covered("bitrix24", verifies, probe)


SCHEMA = "rows of the caller's portal schema only (the connection is in that schema)"
PUBLIC_TABLE = "public-schema table filtered by the caller's portal"

ROUTES: dict[str, Covered] = {
    # Portal API: PortalScopedAPIView/ViewSet; the middleware binds the portal from credentials.
    "portal-detail": portal("the caller's own portal row", probe_portal_detail),
    "portal-token": portal("a new token for the caller's own portal", probe_token_issue),
    "staff-access-list": portal(PUBLIC_TABLE, probe_staff_access),
    "sync-status": portal(SCHEMA, probe_sync_status),
    "rest-call-list": portal(SCHEMA, probe_rest_call_list),
    "rest-call-detail": portal(SCHEMA, probe_rest_call_detail),
    "assistant-settings": portal(SCHEMA + "; writes a new version there", probe_assistant_settings),
    "assistant-preview": portal(SCHEMA + "; stores nothing", probe_assistant_preview),
    "client-history": portal(SCHEMA, probe_client_history),
    "decision-list": portal(SCHEMA, probe_decision_list),
    "decision-detail": portal(SCHEMA, probe_decision_detail),
    "decision-undo": portal(SCHEMA + "; writes there", probe_decision_undo),
    "decision-approve-pass": portal(SCHEMA + "; writes there", probe_decision_approve_pass),
    "ladder-reindex": portal(SCHEMA + "; writes there", probe_ladder_reindex),
    "snooze-list": portal(SCHEMA + "; creates there", probe_snoozes),
    "absence-list": portal(SCHEMA + "; creates there", probe_absences),
    "analytics-rest-usage": portal(SCHEMA, probe_rest_usage),
    # Public pages: no portal is bound, and none is shown.
    "login": public("the sign-in form of client admins and staff (rate-limited)", probe_login),
    "logout": public("ends the caller's own session", probe_logout),
    "healthz": public("infrastructure health for the load balancer; no portal data", probe_healthz),
    "api-schema": public("the OpenAPI description; the same for everyone", probe_schema),
    "api-docs": public("Swagger UI over the schema; the same for everyone", probe_docs),
    "security-sheet": public("the published data-use sheet (deployment-wide)", probe_sheet),
    "security-sheet-json": public("the sheet, machine-readable", probe_sheet_json),
    "security-sheet-pdf": public("the sheet as a PDF", probe_sheet_pdf),
    "set_language": public("stores the chosen language in a cookie", probe_set_language),
    # Called by Bitrix24: public, and each verifies the portal before it touches anything.
    "b24-install": bitrix24(
        "the portal's OAuth server (allow-listed) must confirm the token's member_id and app",
        probe_b24_install,
    ),
    "b24-events": bitrix24(
        "member_id plus the application_token stored for that portal (constant-time compare)",
        probe_b24_events,
    ),
    "b24-app": bitrix24(
        "the portal's OAuth server must confirm AUTH_ID belongs to that member_id; then a "
        "short-lived iframe token of that portal only is issued",
        probe_b24_app,
    ),
}

# Whole namespaces. The back office is vendor staff's, behind admin_view (staff + 2FA), and
# every read of a portal's data there is written to that portal's audit log
# (tests/tenants/test_staff_access.py). Here: every one of its routes refuses portal principals.
NAMESPACES: dict[str, str] = {
    "admin": "vendor staff only (is_staff, verified second factor); portal principals refused",
}
# Back-office routes that answer anyone: the sign-in form (and Django's catch-all, a 404).
ADMIN_OPEN = {"admin:login", "admin/(?P<url>.*)$"}


def _covered_by_namespace(route: ServedRoute) -> bool:
    return route.namespace.split(":")[0] in NAMESPACES


def test_every_route_is_in_the_coverage_table():
    routes = served_routes()
    keys = [route.key for route in routes if not _covered_by_namespace(route)]
    missing = sorted(set(keys) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(keys))
    assert len(keys) == len(set(keys)), "two routes share a name; the table needs unique keys"
    assert not missing, f"routes without a tenant-isolation entry in ROUTES: {missing}"
    assert not stale, f"ROUTES entries for routes that no longer exist: {stale}"


def test_the_table_labels_each_route_by_what_it_really_is():
    """A portal-scoped view cannot hide as 'public', nor a public view pose as portal-scoped."""
    for route in served_routes():
        if _covered_by_namespace(route):
            continue
        entry = ROUTES[route.key]
        assert (entry.kind == "portal") == _is_portal_view(route.callback), route.key


PORTAL_ROUTES = sorted(key for key, entry in ROUTES.items() if entry.kind == "portal")
OPEN_ROUTES = sorted(key for key, entry in ROUTES.items() if entry.kind != "portal")


@pytest.mark.parametrize("route", PORTAL_ROUTES)
def test_portal_a_principals_see_and_change_only_portal_a(route, world):
    for principal in PRINCIPALS:  # one world per route, every principal of A in turn
        client = Client()
        headers = principal_login(client, principal, world)
        try:
            ROUTES[route].probe(client, headers, world)
        except AssertionError as exc:
            raise AssertionError(f"as {principal}: {exc}") from exc


# django-health-check answers 500 while a component is down (here: no Celery worker runs).
MAY_REPORT_FAILURE = {"healthz"}


@pytest.mark.parametrize("route", OPEN_ROUTES)
def test_public_routes_reveal_no_portal_data(route, world, oauth_server):
    anonymous = Client()
    for response in ROUTES[route].probe(anonymous, world, oauth_server):
        assert response.status_code < 500 or route in MAY_REPORT_FAILURE, response.status_code
        assert_reveals_nothing_of(response, world.a, world.b)
    as_a = Client()
    headers = principal_login(as_a, "api_token", world)
    as_a.defaults.update(headers)
    for response in ROUTES[route].probe(as_a, world, oauth_server):
        assert response.status_code < 500 or route in MAY_REPORT_FAILURE, response.status_code
        assert_reveals_nothing_of(response, world.b)


# --- requests without (valid) portal credentials ----------------------------------------------

_ARG = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


def concrete_path(pattern: str, values: dict[str, str]) -> str:
    """A request path for a route pattern, with its arguments filled from `values`."""

    def fill(match: re.Match) -> str:
        name = match.group("name") or match.group("rname")
        return values.get(name, values["default"])

    path = _ARG.sub(fill, pattern).replace("^", "").replace("$", "")
    return "/" + path.replace("\\", "")


def _portal_paths(world: World) -> list[tuple[str, str]]:
    values = {"default": str(B_ONLY_ID), "entity_type_id": "3", "client_id": str(B_ONLY_CLIENT)}
    return [
        (route.key, concrete_path(route.pattern, values))
        for route in served_routes()
        if route.key in ROUTES and ROUTES[route.key].kind == "portal"
    ]


def _forged_token(world: World) -> str:
    from tenants.services import portal_api_token_issue

    genuine = portal_api_token_issue(portal=world.a.portal, is_admin=True)
    payload, _, signature = genuine.rpartition(":")
    return f"{payload}:{signature[::-1]}"


def _uninstalled_portal_token(world: World, portal_factory) -> str:
    from tenants.models import Portal
    from tenants.services import portal_api_token_issue

    gone = portal_factory(install_state=Portal.InstallState.UNINSTALLED)
    return portal_api_token_issue(portal=gone, is_admin=True)


@pytest.mark.parametrize(
    "caller", ["anonymous", "vendor_staff", "forged_token", "uninstalled_portal", "b_session"]
)
def test_portal_routes_refuse_callers_without_portal_credentials(
    caller, world, portal_factory, staff_login
):
    client = Client()
    if caller == "vendor_staff":  # a superuser with 2FA, but no membership of any portal
        staff = get_user_model().objects.create_superuser(username="vendor", password="x" * 16)
        staff_login(client, staff)
    elif caller == "forged_token":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {_forged_token(world)}"
    elif caller == "uninstalled_portal":
        token = _uninstalled_portal_token(world, portal_factory)
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    elif caller == "b_session":  # B's admin whose session names A, where they are no member
        from tenants.models import PortalMember
        from tenants.selectors import SESSION_PORTAL_KEY

        user = get_user_model().objects.create_user(username="admin-b", password="x" * 16)
        PortalMember.objects.create(user=user, portal=world.b.portal)
        client.force_login(user)
        session = client.session
        session[SESSION_PORTAL_KEY] = world.a.portal.pk
        session.save()
    for key, path in _portal_paths(world):
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code in (401, 403, 405), (
                caller,
                key,
                method,
                response.status_code,
            )
            assert_reveals_nothing_of(response, world.a, world.b)


def test_a_token_of_a_smuggling_b_identifiers_still_sees_only_a(client, world):
    """Portal ids in the query, headers or a second credential never re-bind the request."""
    from tenants.models import PortalMember
    from tenants.selectors import SESSION_PORTAL_KEY

    headers = principal_login(client, "api_token", world)
    b = world.b.portal
    b_admin = get_user_model().objects.create_user(username="admin-only-b", password="x" * 16)
    PortalMember.objects.create(user=b_admin, portal=b)
    client.force_login(b_admin)  # a session of B rides along with A's Bearer token
    session = client.session
    session[SESSION_PORTAL_KEY] = b.pk
    session.save()

    response = client.get(
        f"{API}/assistants/decisions/?portal={b.pk}&member_id={b.member_id}&schema={b.schema_name}",
        HTTP_X_PORTAL_ID=str(b.pk),
        HTTP_X_MEMBER_ID=b.member_id,
        **headers,
    )

    assert [row["id"] for row in _results(response)] == world.a.ids["decision"]
    assert_reveals_nothing_of(response, world.b)


# --- the back office --------------------------------------------------------------------------


def _admin_paths(world: World) -> list[tuple[str, str]]:
    b = str(world.b.portal.pk)
    values = {
        "default": b,
        "app_label": "tenants",
        "url": "no-such-page/",
        "content_type_id": "1",
    }
    return [
        (route.key, concrete_path(route.pattern, values))
        for route in served_routes()
        if _covered_by_namespace(route)
    ]


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_back_office_routes_refuse_portal_principals(principal, client, world):
    from tenants.models import StaffAccessLog

    headers = principal_login(client, principal, world)
    audited = StaffAccessLog.objects.count()
    paths = _admin_paths(world)
    assert len(paths) > 20
    for key, path in paths:
        response = client.get(path, **headers)
        assert_reveals_nothing_of(response, world.b)
        if key in ADMIN_OPEN:
            assert response.status_code in (200, 302, 404), (key, path, response.status_code)
            continue
        assert response.status_code in (302, 403, 404, 405), (key, path, response.status_code)
        if response.status_code == 302:  # to the sign-in form (admin:logout: to the index,
            location = response["Location"]  # which sends a non-staff caller there too)
            assert location.startswith("/admin/login/") or location == "/admin/", (key, location)
    assert StaffAccessLog.objects.count() == audited  # no staff read happened
