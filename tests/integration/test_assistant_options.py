"""Every assistant option with an effect on the portal, proven on a sandbox portal (issue 5,
acceptance 1).

test_assistant_scenarios.py plays the seeds' scenarios with the default options; here each
option the scenarios leave at its default is set the other way, and its effect is read back from
the portal: task titles and deadlines, snoozes, each hand-over policy and what goes along with the
client, timeline posts, one message per event, the notification hour and the message texts.
Day counting by the portal's calendar is pure arithmetic: tests/assistants/test_calendar_option.py.

Two portals (the smallest generated one, seed 2, like the scenarios), each shared by the options
it naturally holds: forgotten / released / deals, and the ladder's notifications.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from assistants.models import Decision
from assistants.services import assistants_run
from crm_sync.bitrix.client import MAX_BATCH
from crm_sync.models import Activity, Company, Contact, Deal, Task, User
from crm_sync.selectors import department_heads
from tests.conftest import in_portal
from tests.integration.test_assistant_scenarios import (
    PORTAL,
    STATUS_FIELD,
    _add,
    _calls,
    _decisions,
    _iso,
    _notifications_to,
    _pool_user,
    _portal_tasks_bound_to,
    _statuses,
    _until_mirrored,
)
from tests.integration.test_assistants_e2e import (
    _assert_carried_out_once,
    _records,
    _settings,
    slow_end_to_end,
)

MARGIN = 6  # more than any manager of department 3 loses to the hand-overs of the scenario


def _deadline(task: dict) -> datetime:
    return datetime.fromisoformat(task["DEADLINE"])


def _owner(sandbox, entity: str, record_id: int) -> int:
    return int(_records(sandbox, entity)[record_id]["ASSIGNED_BY_ID"])


def _contact_owners(sandbox, contact_ids) -> set[int]:
    contacts = _records(sandbox, "contact")
    return {int(contacts[pk]["ASSIGNED_BY_ID"]) for pk in contact_ids}


def _released(portal, entity_type_id: int = 3, **filters) -> dict[int, Decision]:
    """Hand-overs of the released assistant of contacts (or companies: 4), by client."""
    with in_portal(portal):
        return {
            d.client_id: d
            for d in _decisions(
                rule="released.overdue_task",
                action="reassign",
                entity_type_id=entity_type_id,
                **filters,
            )
        }


def _loads(portal) -> Counter:
    """Contacts and companies each manager owns in the mirror (what round robin weighs)."""
    with in_portal(portal):
        loads = Counter(Contact.objects.values_list("assigned_by_id", flat=True))
        loads.update(Company.objects.values_list("assigned_by_id", flat=True))
    return loads


# --- forgotten, deals, snoozes, hand-over policies and what goes along ------------------------


@slow_end_to_end
def test_forgotten_released_and_deal_options_act_on_the_portal(synced_sandbox, client, bearer):
    """Custom task titles and deadlines; a manual snooze holds off the forgotten and released
    assistants until its date; hand-over to a named user (deals, contacts and tasks going along,
    and back on undo), to the supervisor (nothing going along), to the pool, open to everyone,
    and round robin with a cap that a manager at the cap gets nothing from."""
    sandbox, portal = synced_sandbox(**PORTAL, extra=["--backdating"])
    now = timezone.now().replace(microsecond=0)
    long_ago = _iso(now - timedelta(days=90))
    pool = _pool_user(sandbox)
    # Department 3: head 7, managers 8 to 11. Manager 3's (department 2) clients get opened.
    named, supervised, pooled, spread, opened = 8, 9, 10, 11, 3
    people = {
        "titled": ("contact", opened),
        "snoozed": ("contact", named),
        "movco": ("company", named),
        "keepco": ("company", supervised),
        "pooled": ("contact", pooled),
        "held": ("contact", pooled),
        "rr1": ("contact", spread),
        "rr2": ("contact", spread),
    }
    ids: dict[str, int] = {}
    for entity in ("contact", "company"):
        ids |= _add(
            sandbox,
            f"crm.{entity}.add",
            {
                key: {
                    ("NAME" if entity == "contact" else "TITLE"): key.capitalize(),
                    **({"LAST_NAME": "Optionov"} if entity == "contact" else {}),
                    "ASSIGNED_BY_ID": owner,
                    "DATE_CREATE": long_ago,
                }
                for key, (kind, owner) in people.items()
                if kind == entity
            },
        )
    contacts = [ids[key] for key, (kind, _) in people.items() if kind == "contact"]
    companies = [ids[key] for key, (kind, _) in people.items() if kind == "company"]
    # Each company has an open deal, a (recent) contact and an old open task of its manager.
    company_of = {"movco": named, "keepco": supervised}
    deals = _add(
        sandbox,
        "crm.deal.add",
        {
            **{
                f"{key}_deal": {
                    "TITLE": f"Deal {key}", "STAGE_ID": "NEW", "ASSIGNED_BY_ID": owner,
                    "COMPANY_ID": ids[key], "DATE_CREATE": _iso(now - timedelta(days=60)),
                }
                for key, owner in company_of.items()
            },
            "dealt": {
                "TITLE": "Deal untouched", "STAGE_ID": "NEW", "ASSIGNED_BY_ID": opened,
                "DATE_CREATE": _iso(now - timedelta(days=60)),
            },
        },
    )  # fmt: skip
    staff = _add(
        sandbox,
        "crm.contact.add",
        {
            f"{key}_staff": {"NAME": "Staff", "LAST_NAME": key.capitalize(),
                             "ASSIGNED_BY_ID": owner, "COMPANY_ID": ids[key]}
            for key, owner in company_of.items()
        },
    )  # fmt: skip
    old_tasks = _add(
        sandbox,
        "tasks.task.add",
        {
            f"{key}_task": {"TITLE": f"Счёт для {key}", "RESPONSIBLE_ID": owner,
                            "DEADLINE": _iso(now - timedelta(days=40)),
                            "UF_CRM_TASK": [f"CO_{ids[key]}"]}
            for key, owner in company_of.items()
        },
    )  # fmt: skip
    _until_mirrored(
        portal,
        "the clients, deals, contacts and tasks to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=[*contacts, *staff.values()]).count()
            == len(contacts) + len(staff)
            and Company.objects.filter(pk__in=companies).count() == len(companies)
            and Deal.objects.filter(pk__in=deals.values()).count() == len(deals)
            and Task.objects.filter(pk__in=old_tasks.values()).count() == len(old_tasks)
        ),
    )
    # Round robin for manager 11's clients: everyone else in his department gets clients up to
    # the cap, except manager 8, so the cap is the only thing that sends every client to 8.
    # (A margin over the cap: managers 9 and 10 lose clients to the hand-overs below.)
    with in_portal(portal):
        [department] = department_heads().departments_of(spread)[:1]
        colleagues = set(
            User.objects.filter(active=True, department_ids__contains=[department])
            .exclude(pk__in=[spread, named])
            .values_list("pk", flat=True)
        )
    loads = _loads(portal)
    cap = loads[named] + 10
    fillers = {
        f"busy{user}_{n}": {"NAME": "Busy", "LAST_NAME": f"Client{n}", "ASSIGNED_BY_ID": user}
        for user in colleagues
        for n in range(max(0, cap + MARGIN - loads[user]))
    }
    filler_ids = _add(sandbox, "crm.contact.add", fillers)
    _until_mirrored(
        portal,
        "the colleagues' clients to reach the mirror",
        lambda: Contact.objects.filter(pk__in=filler_ids.values()).count() == len(filler_ids),
    )
    assert colleagues and all(_loads(portal)[user] >= cap + MARGIN for user in colleagues)
    # The named user's company has more contacts than one batch request holds commands.
    crowd = _add(
        sandbox,
        "crm.contact.add",
        {
            f"crowd{n}": {"NAME": "Staff", "LAST_NAME": f"Crowd{n}", "ASSIGNED_BY_ID": named,
                          "COMPANY_ID": ids["movco"]}
            for n in range(MAX_BATCH)
        },
    )  # fmt: skip
    _until_mirrored(
        portal,
        "the company's many contacts to reach the mirror",
        lambda: Contact.objects.filter(pk__in=crowd.values()).count() == len(crowd),
    )

    # A manager snoozes one forgotten-to-be client for five days.
    snooze = client.post(
        "/api/v1/assistants/snoozes/",
        {"entity_type_id": 3, "client_id": ids["snoozed"],
         "until": str((now + timedelta(days=5)).date()), "reason": "Клиент в отпуске"},
        content_type="application/json",
        **bearer(portal),
    )  # fmt: skip
    assert snooze.status_code == 201, snooze.content
    handover = {"policy": "named", "user_id": spread, "cap_per_manager": None}
    options = {
        "ladder__enabled": False,
        "forgotten__days": 30,
        "forgotten__task_title": "Позвонить: тишина {days} дн.",
        "forgotten__task_days": 5,
        "deals__enabled": True,
        "deals__days": 14,
        "deals__scope": {"owners": [opened]},
        "deals__task_title": "Сделку пора сдвинуть ({days} дн.)",
        "released__enabled": True,
        "released__days_overdue": 7,
    }
    with in_portal(portal):
        _settings(**options, released__handover=handover, released__scope={"owners": [named]})
        _, executed, _ = assistants_run(portal=portal, as_of=now, send_notifications=False)
        assert executed.failed == 0, executed.errors

    # forgotten.task_title with {days} and forgotten.task_days as the deadline.
    [titled] = _portal_tasks_bound_to(sandbox, f"C_{ids['titled']}")
    assert titled["TITLE"].startswith("Позвонить: тишина 30 дн.: Titled Optionov (KW-")
    assert abs(_deadline(titled) - (now + timedelta(days=5))) < timedelta(seconds=1)
    # deals.task_title on the untouched deal's task.
    [dealt] = _portal_tasks_bound_to(sandbox, f"D_{deals['dealt']}")
    assert dealt["TITLE"].startswith("Сделку пора сдвинуть (14 дн.): Deal untouched (KW-")
    # The snoozed client gets no reminder while the others of its manager do.
    assert _portal_tasks_bound_to(sandbox, f"C_{ids['snoozed']}") == []
    assert len(_portal_tasks_bound_to(sandbox, f"CO_{ids['movco']}")) == 2  # old + reminder

    # After the snooze's date, the client is forgotten like any other.
    with in_portal(portal):
        _, executed, _ = assistants_run(
            portal=portal, as_of=now + timedelta(days=6), send_notifications=False
        )
        assert executed.failed == 0, executed.errors
    [reminder] = _portal_tasks_bound_to(sandbox, f"C_{ids['snoozed']}")
    assert int(reminder["RESPONSIBLE_ID"]) == named

    # The "held" client's manager snoozes it past the hand-over date.
    later = now + timedelta(days=13)  # the 5-day reminders are a week overdue
    snooze = client.post(
        "/api/v1/assistants/snoozes/",
        {"entity_type_id": 3, "client_id": ids["held"],
         "until": str((later + timedelta(days=1)).date()), "reason": "Перезвонит сам"},
        content_type="application/json",
        **bearer(portal),
    )  # fmt: skip
    assert snooze.status_code == 201, snooze.content
    with in_portal(portal):
        reminders = [
            int(d.result["task_id"]) for d in _decisions(action="create_task", status="done")
        ]
    _until_mirrored(
        portal,
        "the reminder tasks to reach the mirror",
        lambda: Task.objects.filter(pk__in=reminders).count() == len(reminders),
    )

    # named, with deals, contacts and tasks going along.
    with in_portal(portal):
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
    movco = _released(portal, 4, client_id=ids["movco"])[ids["movco"]]
    assert movco.status == "done" and movco.params["to"] == spread
    assert _owner(sandbox, "company", ids["movco"]) == spread
    assert _owner(sandbox, "deal", deals["movco_deal"]) == spread
    assert _owner(sandbox, "contact", staff["movco_staff"]) == spread
    crowd_owners = {
        int(_records(sandbox, "contact")[pk]["ASSIGNED_BY_ID"]) for pk in crowd.values()
    }
    assert crowd_owners == {spread}
    _until_mirrored(  # round robin below weighs manager 8's clients as the mirror has them
        portal,
        "the moved contacts' new owner to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=crowd.values(), assigned_by_id=spread).count()
            == len(crowd)
        ),
    )
    moved_tasks = _portal_tasks_bound_to(sandbox, f"CO_{ids['movco']}")
    assert {int(t["RESPONSIBLE_ID"]) for t in moved_tasks} == {spread} and len(moved_tasks) == 2

    # supervisor, with nothing going along.
    with in_portal(portal):
        _settings(
            **options,
            released__handover={"policy": "supervisor", "user_id": None, "cap_per_manager": None},
            released__scope={"owners": [supervised]},
            released__move_deals=False,
            released__move_contacts=False,
            released__move_tasks=False,
        )
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
        head = department_heads().supervisor_of(supervised)
    keepco = _released(portal, 4, client_id=ids["keepco"])[ids["keepco"]]
    assert head == 7 and keepco.status == "done" and keepco.params["to"] == head
    assert _owner(sandbox, "company", ids["keepco"]) == head
    assert _owner(sandbox, "deal", deals["keepco_deal"]) == supervised
    assert _owner(sandbox, "contact", staff["keepco_staff"]) == supervised
    kept_tasks = _portal_tasks_bound_to(sandbox, f"CO_{ids['keepco']}")
    assert {int(t["RESPONSIBLE_ID"]) for t in kept_tasks} == {supervised} and len(kept_tasks) == 2

    # open: the client stays with its manager and is opened to everyone.
    with in_portal(portal):
        _settings(
            **options,
            released__handover={"policy": "open", "user_id": None, "cap_per_manager": None},
            released__scope={"owners": [opened]},
        )
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
    titled_handover = _released(portal, client_id=ids["titled"])[ids["titled"]]
    assert titled_handover.status == "done" and titled_handover.params["open"] is True
    contact = _records(sandbox, "contact")[ids["titled"]]
    assert contact["OPENED"] == "Y" and int(contact["ASSIGNED_BY_ID"]) == opened

    # pool: to the pool user, except the client snoozed past today.
    pool_options = {
        **options,
        "released__handover": {"policy": "pool", "user_id": pool, "cap_per_manager": None},
        "released__scope": {"owners": [pooled]},
    }
    with in_portal(portal):
        _settings(**pool_options)
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
    assert _released(portal, client_id=ids["pooled"])[ids["pooled"]].params["to"] == pool
    assert _owner(sandbox, "contact", ids["pooled"]) == pool
    assert ids["held"] not in _released(portal)
    assert _owner(sandbox, "contact", ids["held"]) == pooled

    # round_robin: without a cap the least loaded colleague (8) and the next one share 11's
    # clients (the preview runs the very code that acts, then rolls back)...
    rr = {"policy": "round_robin", "user_id": None, "cap_per_manager": None}
    with in_portal(portal):
        _settings(**options, released__handover=rr, released__scope={"owners": [spread]})
        preview, _, _ = assistants_run(portal=portal, as_of=later, dry_run=True)
    would = {
        row["client_id"]: row["params"].get("to")
        for row in preview.planned
        if row["rule"] == "released.overdue_task"
    }
    assert {ids["rr1"], ids["rr2"]} <= set(would)
    assert named in would.values() and set(would.values()) & colleagues, would
    # ...with the cap, colleagues at the cap get none: all of them go to manager 8.
    with in_portal(portal):
        _settings(
            **options,
            released__handover={**rr, "cap_per_manager": cap},
            released__scope={"owners": [spread]},
        )
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
    spread_out = {cid: d for cid, d in _released(portal).items() if d.params.get("from") == spread}
    assert {ids["rr1"], ids["rr2"]} <= set(spread_out)
    assert {d.status for d in spread_out.values()} == {"done"}
    assert {int(d.params["to"]) for d in spread_out.values()} == {named}
    assert _owner(sandbox, "contact", ids["rr1"]) == _owner(sandbox, "contact", ids["rr2"]) == named

    # Once the snooze is over, the held client is handed to the pool too.
    with in_portal(portal):
        _settings(**pool_options)
        _, executed, _ = assistants_run(
            portal=portal, as_of=later + timedelta(days=2), send_notifications=False
        )
        assert executed.failed == 0, executed.errors
    assert _released(portal, client_id=ids["held"])[ids["held"]].params["to"] == pool
    assert _owner(sandbox, "contact", ids["held"]) == pool
    _assert_carried_out_once(sandbox, portal)

    # Undo gives the named user's company back with everything that went along with it.
    response = client.post(f"/api/v1/assistants/decisions/{movco.pk}/undo/", **bearer(portal))
    assert response.status_code == 201, response.content
    with in_portal(portal):
        _, executed, _ = assistants_run(
            portal=portal, as_of=later + timedelta(days=2), send_notifications=False
        )
        assert executed.failed == 0, executed.errors
    assert _owner(sandbox, "company", ids["movco"]) == named
    assert _owner(sandbox, "deal", deals["movco_deal"]) == named
    assert _owner(sandbox, "contact", staff["movco_staff"]) == named
    crowd_owners = {
        int(_records(sandbox, "contact")[pk]["ASSIGNED_BY_ID"]) for pk in crowd.values()
    }
    assert crowd_owners == {named}
    given_back = _portal_tasks_bound_to(sandbox, f"CO_{ids['movco']}")
    assert {int(t["RESPONSIBLE_ID"]) for t in given_back} == {named} and len(given_back) == 2


# --- the ladder's notifications: hour, one message per event, texts, timeline, on_loss --------


@slow_end_to_end
def test_notification_options_shape_what_the_portal_receives(synced_sandbox):
    """Notifications wait for the portal's hour in its time zone and go out once that day; with
    `combine` off each event is a message of its own, with it on each reader gets one digest;
    the ladder's warning and loss messages are the portal's own texts; with timeline posts off
    nothing is posted on the records, with them on it is; a lost client goes to a named user,
    or to the manager's supervisor."""
    sandbox, portal = synced_sandbox(**PORTAL)
    zone = ZoneInfo(portal.time_zone)
    first = (timezone.now() - timedelta(hours=3)).astimezone(zone)
    first = first.replace(minute=10, second=0, microsecond=0)
    at_hour = first + timedelta(hours=1)
    manager, supervisor, named = 3, 2, 7  # department 2 is headed by user 2
    enum = _statuses(portal)
    ids = _add(
        sandbox,
        "crm.contact.add",
        {
            key: {"NAME": key.capitalize(), "LAST_NAME": "Notifov", "ASSIGNED_BY_ID": manager,
                  STATUS_FIELD: enum["new"]}
            for key in ("lost", "warned")
        },
    )  # fmt: skip
    calls = {
        key: _calls(3, ids[key], manager, [first - timedelta(days=days)])[0]
        for key, days in (("lost", 11), ("warned", 8))
    }
    activity_ids = _add(sandbox, "crm.activity.add", calls)
    _until_mirrored(
        portal,
        "the clients, their statuses and their calls to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=ids.values(), uf__has_key=STATUS_FIELD).count() == 2
            and Activity.objects.filter(pk__in=activity_ids.values()).count() == 2
        ),
    )
    texts = {
        "warn_message": "Проверка: позвоните, статус скоро сменится.",
        "loss_message_manager": "Проверка: ваш клиент пропал.",
        "loss_message_supervisor": "Проверка: клиент вашего сотрудника пропал.",
    }
    options = {
        "forgotten__enabled": False,
        "ladder__scope": {"owners": [manager]},
        **{f"ladder__{key}": text for key, text in texts.items()},
        "notifications__hour": at_hour.hour,
        "notifications__combine": False,
    }
    with in_portal(portal):
        _settings(
            **options,
            notifications__timeline_posts=False,
            ladder__on_loss={"policy": "named", "user_id": named, "cap_per_manager": None},
        )
        # An hour before the portal's notification hour: the pass acts, the messages wait.
        _, executed, notified = assistants_run(portal=portal, as_of=first)
        assert executed.failed == 0, executed.errors
        assert notified is None
        waiting = {d.key: d for d in _decisions(action="notify", status="queued")}
        [loss] = _decisions(action="set_status", entity_type_id=3, client_id=ids["lost"])
        [handover] = _decisions(action="reassign", entity_type_id=3, client_id=ids["lost"])
    assert loss.params["to"] == "lost"
    assert waiting and not [n for n in sandbox.tool("notifications") if "Notifov" in n["message"]]
    # on_loss "named": the lost client is now the named user's.
    assert handover.status == "done" and handover.params["to"] == named
    assert _owner(sandbox, "contact", ids["lost"]) == named
    # Timeline posts off: the status change and the hand-over left nothing on the record.
    assert not [c for c in _records(sandbox, "comment").values() if "KW-" in c["COMMENT"]]

    # At the hour, in the portal's time zone: every message, one per event (its own TAG).
    with in_portal(portal):
        _, _, notified = assistants_run(portal=portal, as_of=at_hour)
        assert notified is not None and notified.failed == 0, notified.errors
        sent = {d.key: d for d in _decisions(action="notify", status="done")}
    assert set(sent) == set(waiting) and notified.done == len(waiting)
    by_tag = {n["tag"]: n for n in sandbox.tool("notifications")}
    assert set(by_tag) == {f"keepwarm|{key}"[:255] for key in sent}
    for key in sent:
        message = by_tag[f"keepwarm|{key}"[:255]]["message"]
        assert not message.startswith("Keepwarm, сводка") and message.count("[URL=") == 1
    # The ladder's own texts, each to its reader, each about its client.
    expected = [
        (manager, texts["warn_message"], "Warned Notifov"),
        (manager, texts["loss_message_manager"], "Lost Notifov"),
        (supervisor, texts["loss_message_supervisor"], "Lost Notifov"),
    ]
    for user, text, name in expected:
        assert [m for m in _notifications_to(sandbox, user) if text in m and name in m], user
    # ...and the hand-over's messages to all three, one each.
    for user in (manager, named, supervisor):
        about = [m for m in _notifications_to(sandbox, user) if "Lost Notifov" in m]
        assert len([m for m in about if "передан" in m or "теперь ваш" in m]) == 1, about
    # Later the same day, still at the hour: the day's messages are out, nothing more is sent.
    with in_portal(portal):
        _, _, notified = assistants_run(portal=portal, as_of=at_hour + timedelta(minutes=20))
    assert notified is None

    # Timeline posts on, on_loss "supervisor": another lost client goes to the manager's head,
    # and its record says why.
    later = first + timedelta(days=1)
    [second] = _add(
        sandbox,
        "crm.contact.add",
        {"second": {"NAME": "Second", "LAST_NAME": "Notifov", "ASSIGNED_BY_ID": manager,
                    STATUS_FIELD: enum["new"]}},
    ).values()  # fmt: skip
    [call] = _add(
        sandbox,
        "crm.activity.add",
        {"c": _calls(3, second, manager, [later - timedelta(days=11)])[0]},
    ).values()
    _until_mirrored(
        portal,
        "the second client and its call to reach the mirror",
        lambda: (
            Contact.objects.filter(pk=second, uf__has_key=STATUS_FIELD).exists()
            and Activity.objects.filter(pk=call).exists()
        ),
    )
    with in_portal(portal):
        _settings(
            **options,
            ladder__on_loss={"policy": "supervisor", "user_id": None, "cap_per_manager": None},
        )
        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
        [handover] = _decisions(action="reassign", entity_type_id=3, client_id=second)
    assert handover.status == "done" and handover.params["to"] == supervisor
    assert _owner(sandbox, "contact", second) == supervisor
    comments = [
        c["COMMENT"]
        for c in _records(sandbox, "comment").values()
        if c["ENTITY_TYPE"] == "contact" and int(c["ENTITY_ID"]) == second
    ]
    assert len(comments) == 2 and all(c.startswith("Keepwarm: ") for c in comments)

    # Combined (the default): at the next day's hour each recipient gets one digest listing
    # every message waiting for them.
    with in_portal(portal):
        _settings(**{**options, "notifications__combine": True})
        waiting = _decisions(action="notify", status="queued")
        _, _, notified = assistants_run(portal=portal, as_of=at_hour + timedelta(days=1))
        assert notified is not None and notified.failed == 0, notified.errors
        recipients = Counter(
            int(d.result["digest"][1:]) for d in _decisions(pk__in=[d.pk for d in waiting])
        )
    assert waiting and notified.done == len(waiting)
    assert {manager, supervisor} <= set(recipients)
    digests = [n for n in sandbox.tool("notifications") if n["tag"].startswith("keepwarm|digest|")]
    assert Counter(n["user_id"] for n in digests) == Counter(set(recipients))
    for digest in digests:
        lines = digest["message"].split("\n")
        assert lines[0] == "Keepwarm, сводка:" and len(lines) - 1 == recipients[digest["user_id"]]
    [to_manager] = [n["message"] for n in digests if n["user_id"] == manager]
    assert texts["loss_message_manager"] in to_manager and "Second Notifov" in to_manager
