import json
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from assistants.models import ClientEvent, ClientSnooze, Decision
from assistants.settings_schema import settings_default
from crm_sync.models import Contact, UserFieldDefinition
from tests.conftest import in_portal


@pytest.fixture
def forgotten_contact(portal_factory):
    portal = portal_factory()
    with in_portal(portal):
        Contact.objects.create(
            id=10, name="Ivan", assigned_by_id=5, created_at=timezone.now() - timedelta(days=90)
        )
    return portal


def test_preview_lists_what_would_happen_and_stores_nothing(client, forgotten_contact, bearer):
    response = client.get("/api/v1/assistants/preview/", **bearer(forgotten_contact))

    assert response.status_code == 200
    body = response.json()
    assert body["counts"]["forgotten.create_task"] == 1
    assert body["planned"][0]["client_id"] == 10
    with in_portal(forgotten_contact):
        assert Decision.objects.count() == 0


def test_preview_rejects_a_malformed_moment(client, forgotten_contact, bearer):
    response = client.get("/api/v1/assistants/preview/?as_of=tomorrow", **bearer(forgotten_contact))

    assert response.status_code == 400
    assert "as_of" in response.json()["fields"]


def test_history_explains_decisions_in_words(client, forgotten_contact, bearer):
    from assistants.engine import assistants_pass_run

    with in_portal(forgotten_contact):
        assistants_pass_run()

    body = client.get(
        "/api/v1/assistants/clients/3/10/history/?lang=en",
        HTTP_ACCEPT_LANGUAGE="en",
        **bearer(forgotten_contact),
    ).json()

    [decision] = body["decisions"]
    assert decision["rule"] == "forgotten.client"
    assert "No contact for more than 30 days" in decision["reason"]


def test_only_done_status_changes_and_handovers_can_be_undone(client, forgotten_contact, bearer):
    from assistants.engine import assistants_pass_run

    with in_portal(forgotten_contact):
        assistants_pass_run()
        decision = Decision.objects.get()

    response = client.post(
        f"/api/v1/assistants/decisions/{decision.pk}/undo/", **bearer(forgotten_contact)
    )

    assert response.status_code == 409
    with in_portal(forgotten_contact):
        assert Decision.objects.get().status == Decision.Status.QUEUED


def test_undo_of_a_handover_queues_the_way_back(client, portal_factory, bearer):
    portal = portal_factory()
    with in_portal(portal):
        done = Decision.objects.create(
            key="released:3:10:1", assistant="released", rule="released.overdue_task",
            entity_type_id=3, client_id=10, owner_id=5, action="reassign",
            params={"from": 5, "to": 6}, status=Decision.Status.DONE,
            executed_at=timezone.now(),
        )  # fmt: skip

    response = client.post(f"/api/v1/assistants/decisions/{done.pk}/undo/", **bearer(portal))

    assert response.status_code == 201
    body = response.json()
    assert body["params"]["to"] == 5 and body["status"] == "queued"
    with in_portal(portal):
        assert Decision.objects.get(pk=done.pk).status == Decision.Status.UNDONE
        assert ClientEvent.objects.get().kind == "undo_requested"


def test_undo_of_a_handover_cancels_hand_overs_of_that_client_still_queued(
    client, portal_factory, bearer
):
    portal = portal_factory()
    with in_portal(portal):
        done = Decision.objects.create(
            key="released:3:10:1", assistant="released", rule="released.overdue_task",
            entity_type_id=3, client_id=10, owner_id=5, action="reassign",
            params={"from": 5, "to": 6}, status=Decision.Status.DONE,
            executed_at=timezone.now(),
        )  # fmt: skip
        queued = [
            Decision.objects.create(
                key=f"{rule}:3:{client_id}",
                assistant="ladder",
                rule=rule,
                entity_type_id=3,
                client_id=client_id,
                owner_id=6,
                action="reassign",
                params={"from": 6, "to": 7},
                status=Decision.Status.QUEUED,
            )
            for rule, client_id in (("ladder.loss_handover", 10), ("ladder.loss_handover", 11))
        ]

    response = client.post(f"/api/v1/assistants/decisions/{done.pk}/undo/", **bearer(portal))

    assert response.status_code == 201
    with in_portal(portal):
        same_client, other_client = (Decision.objects.get(pk=d.pk) for d in queued)
        assert same_client.status == Decision.Status.SKIPPED
        assert f"undo of decision {done.pk}" in same_client.last_error
        assert other_client.status == Decision.Status.QUEUED
        way_back = Decision.objects.get(pk=response.json()["id"])
        assert way_back.status == Decision.Status.QUEUED and way_back.params["to"] == 5


def test_a_snooze_needs_a_future_date_and_a_reason(client, forgotten_contact, bearer):
    headers = bearer(forgotten_contact)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()

    past = client.post(
        "/api/v1/assistants/snoozes/",
        {"entity_type_id": 3, "client_id": 10, "until": "2020-01-01", "reason": "x"},
        content_type="application/json",
        **headers,
    )
    ok = client.post(
        "/api/v1/assistants/snoozes/",
        {"entity_type_id": 3, "client_id": 10, "until": tomorrow, "reason": "on holiday"},
        content_type="application/json",
        **headers,
    )
    preview = client.get("/api/v1/assistants/preview/", **headers).json()

    assert past.status_code == 400
    assert ok.status_code == 201
    assert preview["counts"].get("forgotten.create_task", 0) == 0
    with in_portal(forgotten_contact):
        assert ClientSnooze.objects.count() == 1


def test_assistants_config_round_trip_and_field_errors(forgotten_contact, tmp_path):
    exported = tmp_path / "settings.json"
    call_command("assistants_config", forgotten_contact.member_id, "--export", str(exported))
    document = json.loads(exported.read_text())
    assert document == settings_default()

    document["forgotten"]["days"] = 45
    exported.write_text(json.dumps(document))
    call_command("assistants_config", forgotten_contact.member_id, "--import", str(exported))

    document["ladder"]["warn_days_before"] = -1
    exported.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="/ladder/warn_days_before"):
        call_command("assistants_config", forgotten_contact.member_id, "--import", str(exported))


def test_only_an_administrator_reindexes_the_ladder(client, forgotten_contact, bearer):
    url = "/api/v1/assistants/ladder/reindex/"
    with in_portal(forgotten_contact):
        UserFieldDefinition.objects.create(
            entity="CRM_CONTACT",
            field_name="UF_CRM_KEEPWARM_STATUS",
            user_type_id="enumeration",
            enum_items=[{"id": 102, "value": "Hot", "xml_id": "hot"}],
        )
        Contact.objects.filter(id=10).update(uf={"UF_CRM_KEEPWARM_STATUS": "102"})

    denied = client.post(url, **bearer(forgotten_contact, is_admin=False))
    with in_portal(forgotten_contact):
        assert not ClientEvent.objects.exists()  # a refused request changed nothing
    allowed = client.post(url, **bearer(forgotten_contact))

    assert denied.status_code == 403
    assert allowed.status_code == 200
    assert allowed.json() == {"taken_in": 1, "cleared": 0, "skipped": 0}
    with in_portal(forgotten_contact):
        [event] = ClientEvent.objects.filter(kind="status_reindexed")
        assert (event.client_id, event.detail["to"]) == (10, "hot")


def test_run_assistants_reindex_refuses_a_dry_run(forgotten_contact):
    with pytest.raises(CommandError, match="--reindex"):
        call_command("run_assistants", forgotten_contact.member_id, "--reindex", "--dry-run")
