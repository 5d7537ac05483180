"""The install flow exactly as Bitrix24 runs it, against the sandbox portal."""

from django.db import connection

from crm_sync.models import SyncRun
from tenants.models import Portal, PortalCredentials
from tests.conftest import in_portal


def portal_url(portal):
    from django.conf import settings

    return settings.KEEPWARM_PUBLIC_URL.rstrip("/")


def _requests(sandbox, method):
    return [r for r in sandbox.tool("requests?limit=5000") if r["method"] == method]


def test_install_verifies_binds_creates_the_status_field_and_queues_a_full_sync(
    sandbox_factory, connect
):
    sandbox = sandbox_factory()

    portal = connect(sandbox)

    assert portal.install_state == Portal.InstallState.ACTIVE
    credentials = PortalCredentials.objects.get(portal=portal)
    assert credentials.application_token and credentials.client_endpoint == f"{sandbox.base}/rest/"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token FROM tenants_portalcredentials WHERE portal_id = %s", [portal.pk]
        )
        assert cursor.fetchone()[0].startswith("fernet:")  # encrypted at rest
    with sandbox.client() as http:
        bindings = http.post(
            "/rest/event.get.json", json={"auth": credentials.access_token}
        ).json()["result"]
    bound = {row["event"] for row in bindings}
    assert {row["handler"] for row in bindings} == {f"{portal_url(portal)}/b24/events/"}
    assert {"ONCRMCONTACTUPDATE", "ONCRMACTIVITYADD", "ONTASKUPDATE", "ONAPPUNINSTALL"} <= bound
    assert len(_requests(sandbox, "placement.bind")) == 2
    fields = sandbox.hook(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_KEEPWARM_STATUS"}}
    ).json()["result"]
    assert [item["XML_ID"] for item in fields[0]["LIST"]][:3] == ["new", "in_work", "hot"]
    with in_portal(portal):
        assert SyncRun.objects.filter(kind="full").count() == 1


def test_reinstalling_updates_the_portal_and_binds_nothing_twice(sandbox_factory, connect):
    sandbox = sandbox_factory()
    first = connect(sandbox)
    binds_before = len(_requests(sandbox, "event.bind"))

    second = connect(sandbox)

    assert second.pk == first.pk
    assert Portal.objects.filter(member_id=first.member_id).count() == 1
    # A re-install (a new application token) re-binds only what the portal dropped.
    assert len(_requests(sandbox, "event.bind")) == binds_before


def _page_token(sandbox, user_id: int) -> str:
    """Open the application as a portal user, as Bitrix24 does; the token the page carries."""
    import json
    import re

    from django.conf import settings

    page = sandbox.tool(f"apps/{settings.BITRIX_CLIENT_ID}/open", {"user_id": user_id})
    assert page["handler_status"] == 200, page["handler_body"]
    found = re.search(
        r'<script id="keepwarm-token" type="application/json">(.*?)</script>',
        page["handler_body"],
    )
    assert found, page["handler_body"][:500]
    return json.loads(found.group(1))


def test_only_portal_administrators_read_the_logs_and_change_settings(
    sandbox_factory, connect, client
):
    sandbox = sandbox_factory()
    connect(sandbox)
    admin = {"HTTP_AUTHORIZATION": f"Bearer {_page_token(sandbox, 1)}"}  # the portal's admin
    manager = {"HTTP_AUTHORIZATION": f"Bearer {_page_token(sandbox, 2)}"}  # a sales manager
    renewed = client.post("/api/v1/auth/token/", **manager).json()["token"]
    renewed_manager = {"HTTP_AUTHORIZATION": f"Bearer {renewed}"}

    admin_only = (
        "/api/v1/sync/rest-calls/",
        "/api/v1/audit/staff-access/",
        "/api/v1/analytics/rest-usage/",
        "/api/v1/assistants/preview/",
    )
    for path in admin_only:
        assert client.get(path, **admin).status_code == 200, path
        assert client.get(path, **manager).status_code == 403, path
        assert client.get(path, **renewed_manager).status_code == 403, path  # renewal keeps role
    settings_now = client.get("/api/v1/assistants/settings/", **manager)
    assert settings_now.status_code == 200  # everyone may read how the assistants work
    document = settings_now.json()["document"]
    refused = client.put(
        "/api/v1/assistants/settings/",
        {"document": document},
        content_type="application/json",
        **manager,
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    saved = client.put(
        "/api/v1/assistants/settings/",
        {"document": document},
        content_type="application/json",
        **admin,
    )
    assert saved.status_code == 200
    assert saved.json()["version"] == settings_now.json()["version"] + 1
