"""Two portals full of data, the four kinds of principal of portal A, and Bitrix24's OAuth server.

`world` builds portals A and B with rows in every table the API shows. B's rows carry a marker
string that must never reach A, and B has rows both under ids A also has (per-schema sequences
start at 1 in every portal) and under ids that exist only in B.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.conftest import in_portal

B_ONLY_ID = 900_001  # an id that exists in portal B's tables only
B_ONLY_CLIENT = 424_242


@dataclass
class Side:
    """One portal of the pair and what was put into it."""

    portal: object
    marker: str
    ids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        """Strings that identify this portal; none may appear in the other portal's answers."""
        return [self.marker, self.portal.member_id, self.portal.domain, self.portal.schema_name]


@dataclass
class World:
    a: Side
    b: Side


def _fill(portal, marker: str, *, b_only: bool) -> Side:
    from assistants.models import AssistantPass, ClientEvent, ClientSnooze, Decision, ManagerAbsence
    from assistants.services import assistant_settings_save
    from assistants.settings_schema import settings_default
    from crm_sync.models import Contact, RestCallLog
    from tenants.models import StaffAccessLog

    side = Side(portal, marker)
    long_ago = timezone.now() - timedelta(days=90)
    tomorrow = date.today() + timedelta(days=1)
    with in_portal(portal):
        document = settings_default()
        for status in document["ladder"]["statuses"]:
            if status["code"] == "new":
                status["name"] = marker
        assistant_settings_save(document=document, changed_by=marker)

        ids = [10] + ([B_ONLY_CLIENT] if b_only else [])
        for client_id in ids:
            Contact.objects.create(id=client_id, name=marker, assigned_by_id=5, created_at=long_ago)
            ClientEvent.objects.create(
                entity_type_id=3, client_id=client_id, kind="status_changed", reason=marker
            )
        side.ids["contact"] = ids

        # A calls crm.contact.list only; B calls crm.deal.list (under an id A also has) and
        # crm.company.list (under an id only B has).
        calls = [
            RestCallLog.objects.create(
                method="crm.deal.list" if b_only else "crm.contact.list", error_code=marker
            )
        ]
        if b_only:
            calls.append(
                RestCallLog.objects.create(
                    id=B_ONLY_ID, method="crm.company.list", error_code=marker
                )
            )
        side.ids["rest_call"] = [c.pk for c in calls]

        pass_ = AssistantPass.objects.create(
            as_of=timezone.now(),
            status=AssistantPass.Status.DONE,
            **({"id": B_ONLY_ID} if b_only else {}),
        )
        side.ids["pass"] = [pass_.pk]
        decisions = [
            Decision.objects.create(
                key=f"{marker}:held", pass_ref=pass_, assistant="released",
                rule="released.overdue_task", entity_type_id=3, client_id=10, owner_id=5,
                action="reassign", params={"from": 5, "to": 6}, facts={"m": marker},
                reason=marker, status=Decision.Status.AWAITING_APPROVAL,
            )
        ]  # fmt: skip
        if b_only:
            decisions.append(
                Decision.objects.create(
                    id=B_ONLY_ID, key=f"{marker}:done", assistant="released",
                    rule="released.overdue_task", entity_type_id=3, client_id=B_ONLY_CLIENT,
                    owner_id=5, action="reassign", params={"from": 5, "to": 6}, facts={"m": marker},
                    reason=marker, status=Decision.Status.DONE, executed_at=timezone.now(),
                )
            )  # fmt: skip
        side.ids["decision"] = [d.pk for d in decisions]

        snoozes = [
            # Snoozes name client 11, which is not mirrored: the contacts stay in previews.
            ClientSnooze.objects.create(
                entity_type_id=3, client_id=11, until=tomorrow, reason=marker
            )
        ]
        absences = [
            ManagerAbsence.objects.create(
                user_id=7 if b_only else 5, starts_on=tomorrow, ends_on=tomorrow, reason=marker
            )
        ]
        if b_only:
            snoozes.append(
                ClientSnooze.objects.create(
                    id=B_ONLY_ID, entity_type_id=3, client_id=11, until=tomorrow,
                    reason=marker,
                )
            )  # fmt: skip
            absences.append(
                ManagerAbsence.objects.create(
                    id=B_ONLY_ID, user_id=8, starts_on=tomorrow, ends_on=tomorrow, reason=marker
                )
            )
        side.ids["snooze"] = [s.pk for s in snoozes]
        side.ids["absence"] = [a.pk for a in absences]
    side.ids["staff_access"] = [
        StaffAccessLog.objects.create(
            portal=portal, staff_username="support", action="rest_log", detail=marker
        ).pk
    ]
    return side


@pytest.fixture
def world(portal_factory) -> World:
    a = _fill(portal_factory(), f"alpha-{uuid.uuid4().hex[:12]}", b_only=False)
    b = _fill(portal_factory(), f"bravo-{uuid.uuid4().hex[:12]}", b_only=True)
    return World(a, b)


# --- principals -------------------------------------------------------------------------------

PRINCIPALS = ("api_token", "iframe_token", "client_admin_session", "two_portal_user_session")


def _member(username: str, *portals):
    from tenants.models import PortalMember

    user = get_user_model().objects.create_user(username=username, password=uuid.uuid4().hex)
    for portal in portals:
        PortalMember.objects.create(user=user, portal=portal, bitrix_user_id=1)
    return user


def principal_login(client, kind: str, world: World) -> dict:
    """Make `client` act as portal A's `kind` of principal; returns extra request headers.

    - api_token: a Bearer API token of A's administrator (what the API clients use);
    - iframe_token: the token the Bitrix24 application page hands an administrator's scripts
      (administrators reach every route, so isolation is probed on all of them);
    - client_admin_session: a client admin of A only, logged in (cookie session);
    - two_portal_user_session: a user who administers both A and B, whose session chose A.
    """
    from tenants.selectors import SESSION_PORTAL_KEY
    from tenants.services import portal_api_token_issue, portal_iframe_token_issue

    a, b = world.a.portal, world.b.portal
    if kind == "api_token":
        token = portal_api_token_issue(portal=a, bitrix_user_id=1, is_admin=True)
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if kind == "iframe_token":
        token = portal_iframe_token_issue(portal=a, bitrix_user_id=1, is_admin=True)
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if kind == "client_admin_session":
        client.force_login(_member(f"admin-a-{uuid.uuid4().hex[:6]}", a))
        return {}
    if kind == "two_portal_user_session":
        client.force_login(_member(f"admin-ab-{uuid.uuid4().hex[:6]}", a, b))
        session = client.session
        session[SESSION_PORTAL_KEY] = a.pk
        session.save()
        return {}
    raise ValueError(kind)


# --- Bitrix24's OAuth server ------------------------------------------------------------------


class OAuthServer:
    """Stands in for Bitrix24's OAuth server (oauth.bitrix.info): answers app.info for tokens.

    It is Bitrix24's service, not ours; it answers what the real one answers for a token
    (which application, portal and user it was issued to), and nothing else.
    """

    def __init__(self):
        self.tokens: dict[str, dict] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                try:
                    form = json.loads(raw) if raw.startswith("{") else dict(parse_qsl(raw))
                except json.JSONDecodeError:
                    form = {}
                grant = server.tokens.get(str(form.get("auth", "")))
                if self.path.rstrip("/").endswith("app.info.json") and grant:
                    status, body = 200, {"result": grant}
                else:
                    status, body = 401, {"error": "invalid_token", "error_description": "bad"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}/rest/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def grant(self, portal, *, user_id: int = 1) -> str:
        """A token the server vouches for as issued to our app in `portal` for `user_id`."""
        from django.conf import settings

        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.tokens[token] = {
            "client_id": settings.BITRIX_CLIENT_ID,
            "user_id": user_id,
            "install": {
                "member_id": portal.member_id,
                "domain": portal.domain,
                "client_endpoint": f"https://{portal.domain}/rest/",
                "scope": "crm,task,user_brief,department,im,placement",
                "installed": True,
            },
        }
        return token

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def oauth_server():
    server = OAuthServer()
    yield server
    server.close()


def app_page_form(portal, token: str, server: OAuthServer) -> dict:
    """The POST Bitrix24 sends when a user opens the application inside the portal."""
    return {
        "member_id": portal.member_id,
        "AUTH_ID": token,
        "REFRESH_ID": uuid.uuid4().hex,
        "SERVER_ENDPOINT": server.endpoint,
        "PLACEMENT": "DEFAULT",
        "PLACEMENT_OPTIONS": "{}",
    }
