import time
from datetime import timedelta

from django.core import signing
from django.test import override_settings

from crm_sync.models import RestCallLog
from tenants.models import Portal
from tenants.tokens import portal_token_issue
from tests.conftest import in_portal

PORTAL_URL = "/api/v1/portal/"


def test_a_valid_token_binds_the_request_to_its_portal(client, portal_factory, bearer):
    portal = portal_factory()

    response = client.get(PORTAL_URL, **bearer(portal))

    assert response.status_code == 200
    assert response.json()["member_id"] == portal.member_id


def test_no_credentials_get_401_with_a_bearer_challenge(client, db):
    response = client.get(PORTAL_URL)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_tampered_token_is_rejected_before_any_view(client, portal_factory, portal_token):
    portal = portal_factory()
    token = portal_token(portal)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    response = client.get(PORTAL_URL, HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "detail": "The portal token is not valid: its signature does not match.",
    }


def test_a_token_signed_with_another_key_is_rejected(client, portal_factory):
    portal = portal_factory()
    with override_settings(SECRET_KEY="someone-elses-key-" + "x" * 40):
        token = portal_token_issue(portal_id=portal.pk, member_id=portal.member_id, audience="api")

    response = client.get(PORTAL_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_token_naming_another_portals_member_id_is_rejected(client, portal_factory):
    portal_a, portal_b = portal_factory(), portal_factory()
    token = portal_token_issue(portal_id=portal_a.pk, member_id=portal_b.member_id, audience="api")

    response = client.get(PORTAL_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json()["detail"] == "The portal token names a portal that does not exist."


def test_an_expired_token_is_rejected_with_a_clear_message(client, portal_factory, portal_token):
    portal = portal_factory()
    token = portal_token(portal, ttl=timedelta(seconds=1))
    time.sleep(1.1)

    response = client.get(PORTAL_URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json() == {
        "error": "token_expired",
        "detail": "The portal token has expired; open the application again.",
    }


def test_a_token_cannot_outlive_the_configured_ttl(portal_factory, settings):
    portal = portal_factory()
    settings.KEEPWARM_PORTAL_TOKEN_TTL = timedelta(minutes=5)

    token = portal_token_issue(
        portal_id=portal.pk, member_id=portal.member_id, audience="api", ttl=timedelta(days=30)
    )

    payload = signing.loads(token, salt="keepwarm.portal-token.v1")
    assert payload["exp"] <= time.time() + 5 * 60 + 1


def test_a_token_of_an_uninstalled_portal_gets_403(client, portal_factory, bearer):
    portal = portal_factory()
    headers = bearer(portal)
    Portal.objects.filter(pk=portal.pk).update(install_state=Portal.InstallState.UNINSTALLED)

    response = client.get(PORTAL_URL, **headers)

    assert response.status_code == 403
    assert response.json()["error"] == "portal_inactive"


def test_garbage_in_the_authorization_header_is_a_401_not_a_500(client, db):
    for value in ["Bearer ", "Bearer " + "x" * 5000, "Bearer \u202e\u0000evil", "Bearer a:b:c"]:
        response = client.get(PORTAL_URL, HTTP_AUTHORIZATION=value)
        assert response.status_code == 401, value


def test_a_portal_token_never_shows_another_portals_rows(client, portal_factory, bearer):
    portal_a, portal_b = portal_factory(), portal_factory()
    with in_portal(portal_b):
        secret = RestCallLog.objects.create(method="crm.deal.list", http_status=200)

    listing = client.get("/api/v1/sync/rest-calls/", **bearer(portal_a))
    detail = client.get(f"/api/v1/sync/rest-calls/{secret.pk}/", **bearer(portal_a))

    assert listing.status_code == 200
    assert listing.json()["results"] == []
    assert detail.status_code == 404


def test_a_token_can_be_renewed_for_the_same_portal(client, portal_factory, bearer):
    portal = portal_factory()

    response = client.post("/api/v1/auth/token/", **bearer(portal))

    assert response.status_code == 200
    renewed = response.json()["token"]
    again = client.get(PORTAL_URL, HTTP_AUTHORIZATION=f"Bearer {renewed}")
    assert again.json()["member_id"] == portal.member_id
