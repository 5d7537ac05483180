"""The assistants' scenarios of issue 5 (acceptance 1), played on a sandbox portal.

tests/assistants/test_rules.py proves each rule over mirror rows written by hand; here the same
situations are built the way a portal gets them: managers create clients, log calls dated in the
past or planned for next month, add tasks and change statuses through the REST API; the records
reach the mirror through the real install, full sync, events and sweep; the pass runs as of the
moment the scenario needs (so "eleven days later" or "Monday" takes no waiting); the executor
acts through the real client; and the outcome is read back from the portal itself (status field,
ASSIGNED_BY_ID, tasks, timeline comments, notifications) and from decisions and history.

Two portals, each shared by the scenarios it naturally holds: the status ladder (with the loss
hand-over, warnings, the raise check, idempotency and undo), and forgotten / released / deals.
Both are the smallest generated portal (10 clients, seed 2: every employee active, so the only
dismissed one is the one a scenario dismisses) plus the scenario's own clients.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from assistants.models import ClientEvent, ClientState, Decision
from assistants.services import assistants_run
from crm_sync.models import Activity, Contact
from crm_sync.selectors import status_enum_values
from tests.conftest import in_portal, wait_until
from tests.integration.mirror import _query, patient_call
from tests.integration.test_assistants_e2e import (
    STATUS_FIELD,
    _assert_carried_out_once,
    _records,
    _settings,
    slow_end_to_end,
)

MSK = ZoneInfo("Europe/Moscow")  # the sandbox portal's time zone
PORTAL = {"scale": "10", "seed": 2}
CALL = {"TYPE_ID": 2, "PROVIDER_ID": "VOXIMPLANT_CALL", "PROVIDER_TYPE_ID": "CALL"}


# --- the portal side: what managers do in Bitrix24 ----------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(MSK).replace(microsecond=0).isoformat()


def _add(sandbox, method: str, records: dict[str, dict]) -> dict[str, int]:
    """Create records through the admin webhook in batches of 50; their ids by key."""
    ids: dict[str, int] = {}
    keys = list(records)
    for start in range(0, len(keys), 50):
        chunk = keys[start : start + 50]
        commands = {key: f"{method}?{_query({'fields': records[key]})}" for key in chunk}
        answer = patient_call(sandbox, "batch", {"halt": 1, "cmd": commands})["result"]
        assert not answer["result_error"], answer["result_error"]
        for key in chunk:
            result = answer["result"][key]
            ids[key] = int(result["task"]["id"] if isinstance(result, dict) else result)
    return ids


def _calls(owner_type: int, owner_id: int, responsible: int, moments, *, done=True) -> list[dict]:
    """Calls logged on a record at the given moments (past and done, or planned)."""
    return [
        {
            **CALL,
            "OWNER_TYPE_ID": owner_type,
            "OWNER_ID": owner_id,
            "RESPONSIBLE_ID": responsible,
            "SUBJECT": "Звонок клиенту",
            "START_TIME": _iso(moment),
            "END_TIME": _iso(moment + timedelta(minutes=5)),
            "DEADLINE": _iso(moment),
            "COMPLETED": "Y" if done else "N",
            "DIRECTION": 2,
        }
        for moment in moments
    ]


def _pool_user(sandbox) -> int:
    [pool] = patient_call(sandbox, "user.get", {"FILTER": {"NAME": "Развитие"}})["result"]
    return int(pool["ID"])


def _notifications_to(sandbox, user_id: int) -> list[str]:
    return [n["message"] for n in sandbox.tool("notifications") if n["user_id"] == user_id]


def _portal_tasks_bound_to(sandbox, binding: str) -> list[dict]:
    return [t for t in _records(sandbox, "task").values() if binding in t.get("UF_CRM_TASK", [])]


# --- the Keepwarm side -------------------------------------------------------------------------


def _statuses(portal) -> dict[str, str]:
    with in_portal(portal):
        return status_enum_values(STATUS_FIELD)[3]


def _until_mirrored(portal, what: str, check) -> None:
    def done() -> bool:
        with in_portal(portal):
            return check()

    wait_until(done, timeout=30, what=what)


def _decisions(**filters) -> list[Decision]:
    return list(Decision.objects.filter(**filters).order_by("id"))


def _last_monday_ten() -> datetime:
    """The latest Monday 10:00 (portal time) that has passed: the scenarios' "now"."""
    local = timezone.now().astimezone(MSK) - timedelta(minutes=1)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    return monday if monday <= local else monday - timedelta(days=7)


# --- the status ladder -------------------------------------------------------------------------


@slow_end_to_end
def test_status_ladder_scenarios_act_on_the_portal(synced_sandbox, client, bearer):
    """Seed 001 on a portal: daily calls keep a status, eleven silent days lose a "New" client
    (loss messages, hand-over to the pool), a warning comes before a drop, a Friday call allows a
    Monday raise while a raise with no call is reverted with a warning; the same pass twice does
    nothing; undo restores owner and status; without "reset on calls" daily calls do not count."""
    sandbox, portal = synced_sandbox(**PORTAL)
    monday = _last_monday_ten()
    friday_evening = monday - timedelta(days=2, hours=16)
    manager, supervisor, pool = 3, 2, _pool_user(sandbox)  # department 2, headed by user 2
    enum = _statuses(portal)
    people = {
        # key: (status given by the manager, days ago of each call)
        "daily": ("hot", range(1, 46)),
        "silent": ("hot", [41, 48]),
        "eleven": ("new", [11]),
        "nine": ("new", [9]),
        "five": ("new", [5]),
        "friday": ("cold", []),
        "nocall": ("cold", [20]),
    }
    ids = _add(
        sandbox,
        "crm.contact.add",
        {
            key: {
                "NAME": key.capitalize(),
                "LAST_NAME": "Ladderov",
                "ASSIGNED_BY_ID": manager,
                STATUS_FIELD: enum[status],
            }
            for key, (status, _) in people.items()
        },
    )
    calls = {
        f"{key}{n}": call
        for key, (_, days) in people.items()
        for n, call in enumerate(
            _calls(3, ids[key], manager, [monday - timedelta(days=d) for d in days])
        )
    }
    calls["friday"] = _calls(3, ids["friday"], manager, [friday_evening])[0]
    activity_ids = _add(sandbox, "crm.activity.add", calls)
    _until_mirrored(
        portal,
        "the clients, their statuses and their calls to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=ids.values(), uf__has_key=STATUS_FIELD).count()
            == len(ids)
            and Activity.objects.filter(pk__in=activity_ids.values()).count() == len(activity_ids)
        ),
    )

    with in_portal(portal):
        _settings(
            forgotten__enabled=False,
            ladder__reset_on_calls=True,
            ladder__warn_days_before=3,
            ladder__raise_requires_call=True,
            ladder__raise_call_lookback_days=3,
            ladder__on_loss={"policy": "pool", "user_id": pool, "cap_per_manager": None},
        )
        # Forty days before Monday Keepwarm first sees the statuses: their clocks start.
        first, _, _ = assistants_run(
            portal=portal, as_of=monday - timedelta(days=40), send_notifications=False
        )
        assert not _decisions(client_id__in=ids.values()), first.counts
        adopted = dict(ClientState.objects.filter(client_id__in=ids.values()).values_list(
            "client_id", "status"))  # fmt: skip
        assert adopted == {ids[key]: status for key, (status, _) in people.items()}

    # Over the weekend the manager raises two cold clients: one he called on Friday evening, one
    # he last called twenty days ago.
    raises = {"friday": "warm", "nocall": "hot"}
    for key, status in raises.items():
        patient_call(
            sandbox, "crm.contact.update", {"id": ids[key], "fields": {STATUS_FIELD: enum[status]}}
        )
    _until_mirrored(
        portal,
        "the raised statuses to reach the mirror",
        lambda: all(
            Contact.objects.filter(pk=ids[k], uf__contains={STATUS_FIELD: enum[s]}).exists()
            for k, s in raises.items()
        ),
    )

    with in_portal(portal):
        result, executed, notified = assistants_run(
            portal=portal, as_of=monday, send_notifications=True
        )
        assert executed.failed == 0 and notified.failed == 0, executed.errors + notified.errors
        changed = {
            d.client_id: (d.rule, d.params["from"], d.params["to"])
            for d in _decisions(action="set_status", status="done", client_id__in=ids.values())
        }
        handovers = _decisions(action="reassign", status="done", client_id__in=ids.values())
        warnings = _decisions(rule="ladder.warning", client_id__in=ids.values())
    first_counts = _assert_carried_out_once(sandbox, portal)
    contacts = _records(sandbox, "contact")

    def status_on_portal(key: str) -> str:
        return contacts[ids[key]][STATUS_FIELD]

    # A client called daily keeps its status.
    assert ids["daily"] not in changed
    assert status_on_portal("daily") == enum["hot"]
    # "Reset the clock on calls" is what keeps it: the client whose calls stopped 41 days ago,
    # adopted at the same time with the same status, moved one step down.
    assert changed[ids["silent"]] == ("ladder.decay", "hot", "warm")
    assert status_on_portal("silent") == enum["warm"]
    # Called last 11 days ago with a 10-day limit: lost, and the loss actions ran: the client is
    # handed to the pool user, the manager and the supervisor are told, the timeline says why.
    assert changed[ids["eleven"]] == ("ladder.decay", "new", "lost")
    assert status_on_portal("eleven") == enum["lost"]
    assert [(d.rule, d.params["to"]) for d in handovers] == [("ladder.loss_handover", pool)]
    assert handovers[0].client_id == ids["eleven"]
    assert int(contacts[ids["eleven"]]["ASSIGNED_BY_ID"]) == pool
    loss = _settings_document(portal)["ladder"]
    assert any(
        loss["loss_message_manager"] in text and "Eleven Ladderov" in text
        for text in _notifications_to(sandbox, manager)
    )
    assert any(
        loss["loss_message_supervisor"] in text and "Eleven Ladderov" in text
        for text in _notifications_to(sandbox, supervisor)
    )
    comments = [
        c["COMMENT"]
        for c in _records(sandbox, "comment").values()
        if c["ENTITY_TYPE"] == "contact" and int(c["ENTITY_ID"]) == ids["eleven"]
    ]
    assert len(comments) == 2 and all(
        c.startswith("Keepwarm: ") for c in comments
    )  # loss, hand-over
    # Warn N days before a downgrade: nine silent days of ten are warned, five are not.
    assert [d.client_id for d in warnings] == [ids["nine"]]
    assert warnings[0].status == "done"
    assert status_on_portal("nine") == status_on_portal("five") == enum["new"]
    assert any(
        loss["warn_message"] in text and "Nine Ladderov" in text
        for text in _notifications_to(sandbox, manager)
    )
    assert not any("Five Ladderov" in text for text in _notifications_to(sandbox, manager))
    # A Friday call allows a Monday raise with a 3-day look-back.
    assert ids["friday"] not in changed
    assert status_on_portal("friday") == enum["warm"]
    with in_portal(portal):
        assert ClientState.objects.get(client_id=ids["friday"]).status == "warm"
    # A raise with no call is reverted and the manager warned.
    assert changed[ids["nocall"]] == ("ladder.raise_without_call", "hot", "cold")
    assert status_on_portal("nocall") == enum["cold"]
    assert any("Nocall Ladderov" in text for text in _notifications_to(sandbox, manager))
    with in_portal(portal):
        assert ClientEvent.objects.filter(client_id=ids["nocall"], kind="status_reverted").exists()
    # Nothing else happened to the scenario's clients.
    assert set(changed) == {ids["silent"], ids["eleven"], ids["nocall"]}

    # Running the same pass twice creates nothing new, in Keepwarm or on the portal.
    notifications = sandbox.tool("notifications")
    with in_portal(portal):
        decisions = Decision.objects.count()
        again, executed_again, notified_again = assistants_run(
            portal=portal, as_of=result.as_of, send_notifications=True
        )
        assert Decision.objects.count() == decisions
        assert sum(v for k, v in again.counts.items() if not k.startswith("rule.")) == 0
        assert executed_again.done == notified_again.done == 0
    assert _assert_carried_out_once(sandbox, portal) == first_counts
    assert sandbox.tool("notifications") == notifications

    # Undo restores owner and status: a supervisor undoes the loss and its hand-over.
    decay = next(d for d in _decisions_in(portal, action="set_status") if d.params["to"] == "lost")
    handover = handovers[0]
    for decision in (handover, decay):
        response = client.post(
            f"/api/v1/assistants/decisions/{decision.pk}/undo/", **bearer(portal)
        )
        assert response.status_code == 201, response.content
    with in_portal(portal):
        _, executed, _ = assistants_run(portal=portal, as_of=monday, send_notifications=False)
        assert executed.failed == 0, executed.errors
        undone = {d.pk: d.status for d in _decisions(pk__in=[decay.pk, handover.pk])}
        compensations = _decisions(rule="undo", status="done")
    assert undone == {decay.pk: "undone", handover.pk: "undone"}
    assert {d.facts["undo_of"] for d in compensations} == {decay.pk, handover.pk}
    eleven = _records(sandbox, "contact")[ids["eleven"]]
    assert int(eleven["ASSIGNED_BY_ID"]) == manager
    assert eleven[STATUS_FIELD] == enum["new"]
    history = client.get(
        f"/api/v1/assistants/clients/3/{ids['eleven']}/history/", **bearer(portal)
    ).json()
    assert history["status"] == "new"
    kinds = [e["kind"] for e in history["events"]]  # newest first
    assert kinds.count("undo_requested") == 2 and kinds[0] in {"reassigned", "status_changed"}

    # Without "reset the clock on calls" the same daily calls no longer keep the status.
    with in_portal(portal):
        _settings(
            forgotten__enabled=False,
            ladder__reset_on_calls=False,
            ladder__on_loss={"policy": "pool", "user_id": pool, "cap_per_manager": None},
        )
        _, executed, _ = assistants_run(
            portal=portal, as_of=monday + timedelta(hours=1), send_notifications=False
        )
        assert executed.failed == 0, executed.errors
        [daily] = _decisions(action="set_status", client_id=ids["daily"])
    assert (daily.rule, daily.params["from"], daily.params["to"]) == ("ladder.decay", "hot", "warm")
    assert _records(sandbox, "contact")[ids["daily"]][STATUS_FIELD] == enum["warm"]


def _settings_document(portal) -> dict:
    from assistants.selectors import assistant_settings_current

    with in_portal(portal):
        return assistant_settings_current().document


def _decisions_in(portal, **filters) -> list[Decision]:
    with in_portal(portal):
        return _decisions(**filters)
