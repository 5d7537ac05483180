import copy

import pytest

from assistants.facts import ActivityDefinition
from assistants.models import AssistantSettings
from assistants.selectors import assistant_settings_current
from assistants.services import assistant_settings_save
from assistants.settings_schema import settings_default, settings_document_errors
from config.errors import ValidationFailed
from tests.conftest import in_portal

URL = "/api/v1/assistants/settings/"


def test_the_default_settings_are_valid_and_follow_the_ladder_of_seed_001():
    document = settings_default()
    assert settings_document_errors(document) == {}
    codes = [status["code"] for status in document["ladder"]["statuses"]]
    assert codes == ["empty", "new", "in_work", "hot", "warm", "cold", "lost"]


def test_settings_saved_before_min_comment_chars_stay_valid_and_mean_its_default():
    document = settings_default()
    document["activity"]["comments"] = False  # as every portal stored them until now,
    del document["activity"]["min_comment_chars"]  # without a minimum

    assert settings_document_errors(document) == {}
    definition = ActivityDefinition.from_settings(document["activity"])
    assert (definition.comments, definition.min_comment_chars) == (False, 15)
    document["activity"]["min_comment_chars"] = -1
    assert "/activity/min_comment_chars" in settings_document_errors(document)


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda d: d["notifications"].update(hour=25), "/notifications/hour"),
        (lambda d: d["ladder"]["statuses"].pop(2), "/ladder/statuses"),
        (
            lambda d: d["ladder"]["statuses"].insert(1, d["ladder"]["statuses"].pop(6)),
            "/ladder/statuses/1/code",
        ),
        (lambda d: d["ladder"]["statuses"][3].update(next="nowhere"), "/ladder/statuses/3/next"),
        (lambda d: d["ladder"]["statuses"][3].update(days=None), "/ladder/statuses/3/days"),
        (lambda d: d.update(surprise=True), "/"),
        (lambda d: d["entities"].append("deal"), "/entities/2"),
    ],
)
def test_invalid_settings_are_rejected_naming_the_field(mutate, pointer):
    document = settings_default()
    mutate(document)

    errors = settings_document_errors(document)

    assert pointer in errors, errors


def test_saving_creates_a_new_version_and_keeps_the_old_one(portal_factory):
    with in_portal(portal_factory()):
        assert assistant_settings_current().version == 0
        document = settings_default()
        assistant_settings_save(document=document)
        changed = copy.deepcopy(document)
        changed["notifications"]["hour"] = 8
        assistant_settings_save(document=changed)

        current = assistant_settings_current()
        assert current.version == 2
        assert current.document["notifications"]["hour"] == 8
        assert AssistantSettings.objects.count() == 2


def test_an_invalid_save_writes_nothing(portal_factory):
    with in_portal(portal_factory()):
        with pytest.raises(ValidationFailed):
            assistant_settings_save(document={"schema_version": 1})
        assert AssistantSettings.objects.count() == 0


def test_settings_api_round_trip_and_error_shape(client, portal_factory, bearer):
    portal = portal_factory()
    headers = bearer(portal)
    document = settings_default()
    document["ladder"]["statuses"][3]["days"] = 45

    saved = client.put(URL, {"document": document}, content_type="application/json", **headers)
    bad = client.put(
        URL, {"document": {"schema_version": 1}}, content_type="application/json", **headers
    )

    assert saved.status_code == 200
    assert saved.json()["version"] == 1
    assert client.get(URL, **headers).json()["document"]["ladder"]["statuses"][3]["days"] == 45
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid"
    assert "/" in bad.json()["fields"]
    assert client.get(URL, **headers).json()["version"] == 1
