from django.contrib.auth import get_user_model

from tenants.models import PortalMember
from tenants.selectors import SESSION_PORTAL_KEY


def _admin_of(*portals, username="client-admin"):
    user = get_user_model().objects.create_user(username=username, password="x" * 16)
    for portal in portals:
        PortalMember.objects.create(user=user, portal=portal)
    return user


def test_a_logged_in_client_admin_works_in_their_portal(client, portal_factory):
    portal = portal_factory()
    client.force_login(_admin_of(portal))

    response = client.get("/api/v1/portal/")

    assert response.status_code == 200
    assert response.json()["member_id"] == portal.member_id


def test_an_admin_of_two_portals_must_choose_one(client, portal_factory):
    portal_a, portal_b = portal_factory(), portal_factory()
    client.force_login(_admin_of(portal_a, portal_b))

    assert client.get("/api/v1/portal/").status_code == 401

    session = client.session
    session[SESSION_PORTAL_KEY] = portal_b.pk
    session.save()
    assert client.get("/api/v1/portal/").json()["member_id"] == portal_b.member_id


def test_choosing_a_portal_one_is_not_a_member_of_binds_nothing(client, portal_factory):
    portal_a, portal_b = portal_factory(), portal_factory()
    client.force_login(_admin_of(portal_a))
    session = client.session
    session[SESSION_PORTAL_KEY] = portal_b.pk
    session.save()

    assert client.get("/api/v1/portal/").status_code == 401


def test_session_writes_need_a_csrf_token(portal_factory):
    from django.test import Client

    portal = portal_factory()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(_admin_of(portal))

    response = strict.post("/api/v1/auth/token/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_vendor_staff_without_membership_see_no_portal(client, portal_factory):
    portal_factory()
    staff = get_user_model().objects.create_superuser(username="vendor", password="x" * 16)
    client.force_login(staff)

    assert client.get("/api/v1/portal/").status_code == 401
