from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from crm_sync.models import RestCallLog
from tenants.models import StaffAccessLog
from tests.conftest import in_portal


def _staff(*, can_view_data: bool):
    user = get_user_model().objects.create_user(username="support", password="x" * 16)
    user.is_staff = True
    user.save()
    if can_view_data:
        user.user_permissions.add(Permission.objects.get(codename="view_portal_data"))
    return user


def test_staff_reading_a_portals_rest_log_is_audited_and_shown_to_that_portal(
    client, portal_factory, bearer, staff_login
):
    portal_a, portal_b = portal_factory(), portal_factory()
    with in_portal(portal_a):
        RestCallLog.objects.create(method="crm.deal.list", http_status=200)
    staff_login(client, _staff(can_view_data=True))

    page = client.get(f"/admin/tenants/portal/{portal_a.pk}/rest-log/?q=deal")

    assert page.status_code == 200
    assert b"crm.deal.list" in page.content
    entry = StaffAccessLog.objects.get()
    assert (entry.portal_id, entry.staff_username, entry.action) == (
        portal_a.pk,
        "support",
        "rest_log",
    )
    client.logout()
    seen_by_a = client.get("/api/v1/audit/staff-access/", **bearer(portal_a)).json()["results"]
    seen_by_b = client.get("/api/v1/audit/staff-access/", **bearer(portal_b)).json()["results"]
    assert [row["action"] for row in seen_by_a] == ["rest_log"]
    assert seen_by_b == []


def test_staff_without_the_data_permission_cannot_read_portal_data(
    client, portal_factory, staff_login
):
    portal = portal_factory()
    staff_login(client, _staff(can_view_data=False))

    response = client.get(f"/admin/tenants/portal/{portal.pk}/sync/")

    assert response.status_code == 403
    assert not StaffAccessLog.objects.exists()
