"""Bitrix24-facing endpoints refuse anything that is not provably from a connected portal."""

import uuid

import pytest
from django.conf import settings

from crm_sync.services import _pending_key
from tenants.locks import redis_client
from tenants.models import Portal
from tenants.services import portal_credentials_save, portal_mark_disconnected

EVENTS = "/b24/events/"
APP_TOKEN = "app-token-0123456789abcdef"


@pytest.fixture
def connected_portal(portal_factory):
    portal = portal_factory()
    portal_credentials_save(
        portal=portal,
        client_endpoint="https://example.bitrix24.test/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
        access_token="a" * 32,
        refresh_token="r" * 32,
        expires_in=3600,
        application_token=APP_TOKEN,
    )
    yield portal
    redis_client().delete(_pending_key(portal.pk, "contact"))


def _event(portal, **overrides):
    body = {
        "event": "ONCRMCONTACTUPDATE",
        "data[FIELDS][ID]": "42",
        "ts": "1795400000",
        "auth[member_id]": portal.member_id,
        "auth[application_token]": APP_TOKEN,
        "auth[domain]": portal.domain,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _pending(portal):
    return redis_client().smembers(_pending_key(portal.pk, "contact"))


def test_a_genuine_event_is_queued_for_a_reread(client, connected_portal):
    response = client.post(EVENTS, _event(connected_portal))

    assert response.status_code == 200
    assert response.json() == {"ok": True, "accepted": True}
    assert _pending(connected_portal) == {b"42"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"auth[application_token]": "forged-token-0000000000"},
        {"auth[application_token]": None},
        {"auth[member_id]": "0" * 32},
        {"auth[member_id]": "../../etc/passwd"},
    ],
    ids=["wrong-token", "no-token", "unknown-member", "hostile-member"],
)
def test_forged_events_are_rejected_and_change_nothing(client, connected_portal, overrides):
    response = client.post(EVENTS, _event(connected_portal, **overrides))

    assert response.status_code == 401
    assert response.json()["error"] == "event_rejected"
    assert _pending(connected_portal) == set()


def test_a_forged_event_is_rejected_when_the_portal_is_cached(client, connected_portal):
    assert client.post(EVENTS, _event(connected_portal)).status_code == 200  # now cached
    redis_client().delete(_pending_key(connected_portal.pk, "contact"))

    response = client.post(
        EVENTS, _event(connected_portal, **{"auth[application_token]": APP_TOKEN[:-1] + "X"})
    )

    assert response.status_code == 401
    assert response.json()["error"] == "event_rejected"
    assert _pending(connected_portal) == set()


@pytest.mark.parametrize(
    "body",
    [{}, {"event": ""}, {"event": "ON CRM; DROP TABLE"}, {"event": "X" * 200}],
    ids=["empty", "blank-event", "hostile-event", "long-event"],
)
def test_malformed_events_get_400(client, connected_portal, body):
    response = client.post(EVENTS, body)

    assert response.status_code == 400
    assert _pending(connected_portal) == set()


def test_an_oversized_event_gets_413(client, connected_portal):
    body = _event(connected_portal, padding="x" * (settings.KEEPWARM_EVENT_MAX_BYTES + 10))

    response = client.post(EVENTS, body)

    assert response.status_code == 413
    assert _pending(connected_portal) == set()


def test_a_malformed_record_id_is_ignored(client, connected_portal):
    response = client.post(EVENTS, _event(connected_portal, **{"data[FIELDS][ID]": "1 OR 1=1"}))

    assert response.status_code == 200
    assert response.json()["accepted"] is False
    assert _pending(connected_portal) == set()


def test_events_only_use_get_is_refused(client, connected_portal):
    assert client.get(EVENTS, _event(connected_portal)).status_code == 405


def test_uninstall_event_stops_the_portal_and_forgets_its_tokens(client, connected_portal):
    response = client.post(
        EVENTS, _event(connected_portal, event="ONAPPUNINSTALL", **{"data[FIELDS][ID]": None})
    )

    assert response.status_code == 200
    connected_portal.refresh_from_db()
    assert connected_portal.install_state == Portal.InstallState.UNINSTALLED
    assert connected_portal.credentials.access_token == ""


def test_a_new_application_token_replaces_the_old_one_at_once(client, connected_portal):
    assert client.post(EVENTS, _event(connected_portal)).status_code == 200  # now cached
    portal_credentials_save(  # a re-install or app update brings a new application token
        portal=connected_portal,
        client_endpoint="https://example.bitrix24.test/rest/",
        server_endpoint="https://oauth.bitrix.info/rest/",
        access_token="a" * 32,
        refresh_token="r" * 32,
        expires_in=3600,
        application_token="app-token-new-0123456789",
    )
    redis_client().delete(_pending_key(connected_portal.pk, "contact"))

    old = client.post(EVENTS, _event(connected_portal))
    new = client.post(
        EVENTS,
        _event(
            connected_portal,
            **{"auth[application_token]": "app-token-new-0123456789", "data[FIELDS][ID]": "43"},
        ),
    )

    assert old.status_code == 401
    assert new.status_code == 200
    assert _pending(connected_portal) == {b"43"}


@pytest.mark.parametrize("how", ["uninstall", "disconnect"])
def test_events_of_a_portal_that_stopped_are_ignored_at_once(client, connected_portal, how):
    assert client.post(EVENTS, _event(connected_portal)).status_code == 200  # now cached
    redis_client().delete(_pending_key(connected_portal.pk, "contact"))
    if how == "uninstall":
        uninstall = _event(connected_portal, event="ONAPPUNINSTALL", **{"data[FIELDS][ID]": None})
        assert client.post(EVENTS, uninstall).status_code == 200
    else:
        portal_mark_disconnected(portal_id=connected_portal.pk, reason="test")

    response = client.post(EVENTS, _event(connected_portal))

    assert response.status_code == 200
    assert response.json() == {"ok": True, "ignored": "portal not active"}
    assert _pending(connected_portal) == set()


def test_install_with_missing_fields_is_a_400_naming_them(client, db):
    response = client.post("/b24/install/?DOMAIN=x.bitrix24.ru", {"member_id": "abc"})

    assert response.status_code == 400
    assert set(response.json()["fields"]) >= {"AUTH_ID", "REFRESH_ID", "SERVER_ENDPOINT"}
    assert not Portal.objects.filter(member_id="abc").exists()


def test_install_naming_an_untrusted_oauth_server_is_refused(client, db):
    response = client.post(
        "/b24/install/?DOMAIN=evil.example",
        {
            "member_id": "victim-member-id",
            "AUTH_ID": "a" * 32,
            "REFRESH_ID": "r" * 32,
            "SERVER_ENDPOINT": "https://oauth.evil.example/rest/",
            "APPLICATION_TOKEN": "t" * 32,
        },
    )

    assert response.status_code == 401
    assert not Portal.objects.filter(member_id="victim-member-id").exists()


def test_the_event_endpoint_is_rate_limited_per_portal(client, connected_portal, settings):
    # A day-long window: a per-minute one resets mid-test when the minute turns (a flaky 200).
    settings.KEEPWARM_RATE_EVENTS = "3/d"
    statuses = [client.post(EVENTS, _event(connected_portal)).status_code for _ in range(5)]

    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


def test_login_attempts_are_rate_limited(client, db, settings):
    settings.KEEPWARM_RATE_LOGIN = "2/d"  # a day-long window cannot turn mid-test
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"  # a counter of its own
    statuses = [
        client.post(
            "/accounts/login/", {"username": "x", "password": "y"}, REMOTE_ADDR=address
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 429]
