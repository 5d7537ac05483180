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

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from assistants.models import ClientEvent, ClientState, Decision
from assistants.services import assistants_run
from crm_sync.models import Activity, Company, Contact, Deal, Task, TimelineComment, User
from crm_sync.selectors import status_enum_values
from crm_sync.services import sweep_job
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
    nothing; undo restores owner and status; without "reset on calls" daily calls do not count;
    forgotten clients, when the portal wants a digest, get one task per manager per day."""
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
        # What Keepwarm wrote is in the mirror at once, not only when the portal's event comes
        # back: a pass in between must not take Keepwarm's own change for a manager's.
        reverted = Contact.objects.get(pk=ids["nocall"]).uf[STATUS_FIELD]
        assert reverted == enum["cold"]
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
    # The hand-over says the client was lost, not that a reminder task was ignored (there was
    # none): the manager, the pool user and the supervisor each read it.
    for user in (manager, pool, supervisor):
        texts = [t for t in _notifications_to(sandbox, user) if "Eleven Ladderov" in t]
        assert any(("Пропал" in t and "передан" in t) or "теперь ваш" in t for t in texts), texts
        assert not any("задача-напоминание" in t for t in texts), texts
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
    # Giving the client back tells nobody it was "handed over because a task was ignored".
    assert not _decisions_in(portal, rule="undo", action="notify")
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

    # Forgotten clients in a digest (seed 002's option): one task per manager per day, bound to
    # each client, whose id each client's decision records; a second pass that day adds none.
    with in_portal(portal):
        _settings(
            ladder__enabled=False,
            forgotten__days=10,
            forgotten__digest_task=True,
            forgotten__scope={"owners": [manager]},
        )
        _, executed, _ = assistants_run(
            portal=portal, as_of=monday + timedelta(hours=2), send_notifications=False
        )
        assert executed.failed == 0, executed.errors
        [digest] = _decisions(rule="forgotten.digest")
        items = {d.client_id: d for d in _decisions(rule="forgotten.client")}
    assert digest.status == "done" and digest.owner_id == manager
    task_id = int(digest.result["task_id"])
    task = _records(sandbox, "task")[task_id]
    assert int(task["RESPONSIBLE_ID"]) == manager
    assert task["TITLE"].endswith(f"(KW-{digest.pk})")
    bindings = set(task["UF_CRM_TASK"])
    assert {f"C_{ids['silent']}", f"C_{ids['nocall']}"} <= bindings
    assert f"C_{ids['daily']}" not in bindings and f"C_{ids['five']}" not in bindings
    assert bindings == {f"C_{cid}" for cid in items}
    assert {d.status for d in items.values()} == {"done"}
    assert {int(d.result["task_id"]) for d in items.values()} == {task_id}
    tasks_on_portal = len(_records(sandbox, "task"))
    with in_portal(portal):
        _, executed, _ = assistants_run(
            portal=portal, as_of=monday + timedelta(hours=3), send_notifications=False
        )
        assert executed.done == 0 and len(_decisions(rule="forgotten.digest")) == 1
    assert len(_records(sandbox, "task")) == tasks_on_portal


def _settings_document(portal) -> dict:
    from assistants.selectors import assistant_settings_current

    with in_portal(portal):
        return assistant_settings_current().document


def _decisions_in(portal, **filters) -> list[Decision]:
    with in_portal(portal):
        return _decisions(**filters)


# --- forgotten, released, deals -----------------------------------------------------------------


@slow_end_to_end
def test_forgotten_released_and_deal_scenarios_act_on_the_portal(synced_sandbox, client, bearer):
    """Seed 002 on a portal: forgotten clients get a task; a deal with its first call planned
    next month is not forgotten, the same deal with nothing planned is; a deal untouched for 14
    days gets a task, one touched 13 days ago does not; a week after the task's deadline the
    client is handed over round robin, skipping a manager on leave and a dismissed one, while a
    client with an open future task and the clients of the manager on leave stay; the same pass
    twice does nothing; undo gives the client and its task back."""
    sandbox, portal = synced_sandbox(**PORTAL, extra=["--backdating"])
    now = timezone.now().replace(microsecond=0)
    # Department 3: head 7, managers 8 to 11. Manager 8 forgets clients; 9 goes on leave; 10 is
    # dismissed; only 7 and 11 may receive 8's clients.
    owner, on_leave, dismissed, eligible = 8, 9, 10, {7, 11}
    long_ago = _iso(now - timedelta(days=90))
    people = {f"r{n}": owner for n in range(1, 5)} | {"future_task": owner, "leave": on_leave}
    # Round robin favours the least loaded: give 7 and 11 more (recent) clients than 9 and 10
    # hold, so skipping 9 and 10 is the only reason they receive nothing.
    with in_portal(portal):
        loads = Counter(Contact.objects.values_list("assigned_by_id", flat=True))
        loads.update(Company.objects.values_list("assigned_by_id", flat=True))
    busiest = max(loads[on_leave] + 1, loads[dismissed]) + 5
    fillers = {
        f"busy{user}_{n}": {"NAME": "Busy", "LAST_NAME": f"Client{n}", "ASSIGNED_BY_ID": user}
        for user in eligible
        for n in range(max(0, busiest - loads[user]))
    }
    new_clients = {
        key: {
            "NAME": key.capitalize(),
            "LAST_NAME": "Forgottenov",
            "ASSIGNED_BY_ID": manager,
            "DATE_CREATE": long_ago,
        }
        for key, manager in people.items()
    }
    ids = _add(sandbox, "crm.contact.add", {**new_clients, **fillers})
    deals = _add(
        sandbox,
        "crm.deal.add",
        {
            key: {
                "TITLE": f"Deal {key}",
                "STAGE_ID": "NEW",
                "ASSIGNED_BY_ID": owner,
                "DATE_CREATE": _iso(now - timedelta(days=60)),
            }
            for key in ("planned", "nothing", "touched13", "touched15")
        },
    )
    deal_calls = {
        "planned": _calls(2, deals["planned"], owner, [now + timedelta(days=30)], done=False)[0],
        "touched13": _calls(2, deals["touched13"], owner, [now - timedelta(days=13)])[0],
        "touched15": _calls(2, deals["touched15"], owner, [now - timedelta(days=15)])[0],
    }
    activity_ids = _add(sandbox, "crm.activity.add", deal_calls)
    _until_mirrored(
        portal,
        "the clients, deals and calls to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=ids.values()).count() == len(ids)
            and Deal.objects.filter(pk__in=deals.values()).count() == len(deals)
            and Activity.objects.filter(pk__in=activity_ids.values()).count() == len(activity_ids)
        ),
    )
    with in_portal(portal):
        _settings(
            ladder__enabled=False,
            forgotten__days=30,
            forgotten__task_days=3,
            deals__enabled=True,
            deals__days=14,
            released__enabled=True,
            released__days_overdue=7,
            released__handover={"policy": "round_robin", "user_id": None, "cap_per_manager": None},
        )
        _, executed, _ = assistants_run(portal=portal, as_of=now, send_notifications=False)
        assert executed.failed == 0, executed.errors
    _assert_carried_out_once(sandbox, portal)

    # Forgotten clients: one task each, for their own manager, bound to the client.
    for key, manager in people.items():
        [task] = _portal_tasks_bound_to(sandbox, f"C_{ids[key]}")
        assert int(task["RESPONSIBLE_ID"]) == manager, key
    # A deal pre-loaded with a first call planned next month is not forgotten; with nothing
    # planned it is. Deals untouched for 14 days get a task; touched 13 days ago they do not.
    deal_tasks = {key: _portal_tasks_bound_to(sandbox, f"D_{deal}") for key, deal in deals.items()}
    assert {key: len(tasks) for key, tasks in deal_tasks.items()} == {
        "planned": 0, "nothing": 1, "touched13": 0, "touched15": 1,
    }  # fmt: skip
    assert deal_tasks["nothing"][0]["TITLE"].startswith("Сделка без движения 14 дней")
    # The same deal once its planned call is cancelled: nothing planned, so it is forgotten.
    patient_call(sandbox, "crm.activity.delete", {"id": activity_ids["planned"]})
    _until_mirrored(
        portal,
        "the cancelled call to leave the mirror",
        lambda: not Activity.objects.filter(pk=activity_ids["planned"]).exists(),
    )
    with in_portal(portal):
        assistants_run(portal=portal, as_of=now + timedelta(minutes=5), send_notifications=False)
        [cancelled] = _decisions(rule="deals.untouched", client_id=deals["planned"])
        assert cancelled.status == "done" and cancelled.facts["planned_until"] is None
    [task] = _portal_tasks_bound_to(sandbox, f"D_{deals['planned']}")
    assert int(task["RESPONSIBLE_ID"]) == owner

    # Meanwhile the manager plans a task with one client for after the hand-over date.
    later = now + timedelta(days=12)
    planned = _add(
        sandbox,
        "tasks.task.add",
        {"future": {"TITLE": "Встреча по продлению", "RESPONSIBLE_ID": owner,
                    "DEADLINE": _iso(later + timedelta(days=5)),
                    "UF_CRM_TASK": [f"C_{ids['future_task']}"]}},
    )  # fmt: skip
    with in_portal(portal):
        created = [
            int(d.result["task_id"]) for d in _decisions(action="create_task", status="done")
        ]
    _until_mirrored(
        portal,
        "Keepwarm's tasks and the planned task to reach the mirror",
        lambda: (
            Task.objects.filter(pk__in=[*created, planned["future"]]).count() == len(created) + 1
        ),
    )
    # Were nobody away or dismissed, the pass twelve days later would hand clients to 9 or 10
    # and release the clients of 9 (the preview runs the very code that acts, then rolls back).
    with in_portal(portal):
        preview, _, _ = assistants_run(portal=portal, as_of=later, dry_run=True)
    would = {
        row["client_id"]: row["params"].get("to")
        for row in preview.planned
        if row["rule"] == "released.overdue_task" and row["entity_type_id"] == 3
    }
    assert {would[ids[f"r{n}"]] for n in range(1, 5)} & {on_leave, dismissed}, would
    assert ids["leave"] in would and ids["future_task"] not in would

    # Then manager 9 goes on leave (a supervisor enters it in Keepwarm) and manager 10 is
    # dismissed in Bitrix24 (the sweep brings that to the mirror).
    leave = client.post(
        "/api/v1/assistants/absences/",
        {"user_id": on_leave, "starts_on": str((later - timedelta(days=2)).date()),
         "ends_on": str((later + timedelta(days=8)).date()), "reason": "Отпуск"},
        content_type="application/json",
        **bearer(portal),
    )  # fmt: skip
    assert leave.status_code == 201, leave.content
    patient_call(sandbox, "user.update", {"ID": dismissed, "ACTIVE": "N"})
    with in_portal(portal):
        sweep_job(portal)  # the periodic sweep re-reads users and departments
        assert not User.objects.get(pk=dismissed).active

    # Twelve days later the reminder tasks are a week overdue and nobody called.
    with in_portal(portal):
        _, executed, notified = assistants_run(portal=portal, as_of=later, send_notifications=True)
        assert executed.failed == 0 and notified.failed == 0, executed.errors + notified.errors
        released = {
            d.client_id: d
            for d in _decisions(rule="released.overdue_task", action="reassign", status="done")
        }
        targets = {int(d.params["to"]) for d in released.values()}
    _assert_carried_out_once(sandbox, portal)
    contacts, tasks = _records(sandbox, "contact"), _records(sandbox, "task")
    # Round robin skips the manager on leave and the dismissed one, everywhere on the portal.
    assert targets and not targets & {on_leave, dismissed}
    for key in ("r1", "r2", "r3", "r4"):
        decision = released[ids[key]]
        new_owner = int(decision.params["to"])
        assert new_owner in eligible, (key, new_owner)
        assert int(contacts[ids[key]]["ASSIGNED_BY_ID"]) == new_owner
        # The overdue reminder went along with the client.
        assert int(tasks[int(decision.facts["task_id"])]["RESPONSIBLE_ID"]) == new_owner
        assert any(f"{key.capitalize()} Forgottenov" in text
                   for text in _notifications_to(sandbox, new_owner))  # fmt: skip
    # A client with an open future task is not released; nor are the clients of a manager on
    # leave: both keep their owner.
    assert ids["future_task"] not in released and ids["leave"] not in released
    assert int(contacts[ids["future_task"]]["ASSIGNED_BY_ID"]) == owner
    assert int(contacts[ids["leave"]]["ASSIGNED_BY_ID"]) == on_leave

    # Running the same pass twice creates nothing new.
    with in_portal(portal):
        decisions = Decision.objects.count()
        _, executed, notified = assistants_run(portal=portal, as_of=later, send_notifications=True)
        assert Decision.objects.count() == decisions
        assert executed.done == notified.done == 0
    assert len(_records(sandbox, "task")) == len(tasks)

    # Undo gives the client back to its manager, with its task.
    handover = released[ids["r1"]]
    response = client.post(f"/api/v1/assistants/decisions/{handover.pk}/undo/", **bearer(portal))
    assert response.status_code == 201, response.content
    with in_portal(portal):
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
    assert int(_records(sandbox, "contact")[ids["r1"]]["ASSIGNED_BY_ID"]) == owner
    task_id = int(handover.facts["task_id"])
    assert int(_records(sandbox, "task")[task_id]["RESPONSIBLE_ID"]) == owner


# --- timeline comments as contact ---------------------------------------------------------------


@slow_end_to_end
def test_a_written_comment_keeps_a_client_from_being_forgotten(synced_sandbox):
    """Seed 003 and issue 5's activity options on a portal: a client whose last contact is a
    real timeline comment (on itself, or for a company on its deal) is not forgotten while
    comments count, and is once they do not; a "." comment, or Keepwarm's own timeline post,
    never counts."""
    sandbox, portal = synced_sandbox(**PORTAL, extra=["--backdating"])
    now = timezone.now().replace(microsecond=0)
    owner, long_ago, lately = 8, _iso(now - timedelta(days=90)), _iso(now - timedelta(days=5))
    contacts = _add(
        sandbox,
        "crm.contact.add",
        {
            key: {"NAME": key.capitalize(), "LAST_NAME": "Commentov", "ASSIGNED_BY_ID": owner,
                  "DATE_CREATE": long_ago}
            for key in ("written", "dotted", "ours")
        },
    )  # fmt: skip
    company = _add(
        sandbox,
        "crm.company.add",
        {"firm": {"TITLE": "ООО «Комментарий»", "ASSIGNED_BY_ID": owner, "DATE_CREATE": long_ago}},
    )["firm"]
    deal = _add(
        sandbox,
        "crm.deal.add",
        {"deal": {"TITLE": "Поставка", "STAGE_ID": "NEW", "COMPANY_ID": company,
                  "ASSIGNED_BY_ID": owner, "DATE_CREATE": long_ago}},
    )["deal"]  # fmt: skip
    written = "Обсудили условия продления, клиент ждёт договор к пятнице."
    comments = _add(
        sandbox,
        "crm.timeline.comment.add",
        {
            "written": {"ENTITY_TYPE": "contact", "ENTITY_ID": contacts["written"],
                        "COMMENT": written, "CREATED": lately},
            "dotted": {"ENTITY_TYPE": "contact", "ENTITY_ID": contacts["dotted"],
                       "COMMENT": ".", "CREATED": lately},
            "ours": {"ENTITY_TYPE": "contact", "ENTITY_ID": contacts["ours"],
                     "COMMENT": "Keepwarm: клиент забыт больше 30 дней, поставлена задача (KW-7)",
                     "CREATED": lately},
            "deal": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": written,
                     "CREATED": lately},
        },
    )  # fmt: skip
    _until_mirrored(
        portal,
        "the clients, the deal and the comments to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=contacts.values()).count() == 3
            and Company.objects.filter(pk=company).exists()
            and Deal.objects.filter(pk=deal).exists()
            and TimelineComment.objects.filter(pk__in=comments.values()).count() == 4
        ),
    )
    clients = {**{key: (3, pk) for key, pk in contacts.items()}, "firm": (4, company)}

    def forgotten(as_of, **activity) -> set[str]:
        with in_portal(portal):
            _settings(
                ladder__enabled=False,
                forgotten__days=30,
                **{f"activity__{key}": value for key, value in activity.items()},
            )
            preview, _, _ = assistants_run(portal=portal, as_of=as_of, dry_run=True)
        planned = {
            (row["entity_type_id"], row["client_id"])
            for row in preview.planned
            if row["rule"] == "forgotten.client"
        }
        return {key for key, client in clients.items() if client in planned}

    # Comments count: the written one keeps its contact, and the company through its deal.
    assert forgotten(now, comments=True) == {"dotted", "ours"}
    # Even a one-character minimum does not make Keepwarm's own post count.
    assert forgotten(now, comments=True, min_comment_chars=1) == {"ours"}
    # Comments do not count: all four are forgotten.
    assert forgotten(now, comments=False) == {"written", "dotted", "ours", "firm"}

    # Carried out with comments counting: only the two get a reminder task.
    with in_portal(portal):
        _settings(ladder__enabled=False, forgotten__days=30, activity__comments=True)
        _, executed, _ = assistants_run(portal=portal, as_of=now, send_notifications=False)
        assert executed.failed == 0, executed.errors
    for key, (entity_type, client_id) in clients.items():
        prefix = {3: "C", 4: "CO"}[entity_type]
        tasks = _portal_tasks_bound_to(sandbox, f"{prefix}_{client_id}")
        assert len(tasks) == (1 if key in {"dotted", "ours"} else 0), key
