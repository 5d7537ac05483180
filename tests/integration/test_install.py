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
