"""Assistant rules over a mirror built row by row: what each rule decides, and what it leaves."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from assistants.engine import assistants_pass_run
from assistants.models import ClientState, Decision, ManagerAbsence
from assistants.services import assistant_settings_save
from assistants.settings_schema import settings_default
from crm_sync.models import (
    Activity,
    Company,
    Contact,
    Deal,
    Department,
    Task,
    TimelineComment,
    User,
    UserFieldDefinition,
)
from tests.conftest import in_portal

STATUS_CODES = ["new", "in_work", "hot", "warm", "cold", "lost"]
ENUM = {code: str(100 + index) for index, code in enumerate(STATUS_CODES)}
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.get_fixed_timezone(0))


@pytest.fixture
def portal(portal_factory):
    portal = portal_factory()
    with in_portal(portal):
        for entity in ("CRM_CONTACT", "CRM_COMPANY"):
            UserFieldDefinition.objects.create(
                entity=entity,
                field_name="UF_CRM_KEEPWARM_STATUS",
                user_type_id="enumeration",
                enum_items=[
                    {"id": int(ENUM[code]), "value": code, "xml_id": code} for code in STATUS_CODES
                ],
            )
        Department.objects.create(id=1, name="Sales", head_id=90)
        for user_id in (5, 6, 7, 90):
            User.objects.create(id=user_id, name=f"U{user_id}", active=True, department_ids=[1])
        yield portal


def _settings(**changes):
    document = settings_default()
    for path, value in changes.items():
        node = document
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    assistant_settings_save(document=document)
    return document


def _contact(contact_id=10, *, status=None, owner=5, created_days_ago=200):
    return Contact.objects.create(
        id=contact_id,
        name="Client",
        assigned_by_id=owner,
        created_at=MONDAY - timedelta(days=created_days_ago),
        modified_at=MONDAY - timedelta(days=created_days_ago),
        uf={"UF_CRM_KEEPWARM_STATUS": ENUM[status]} if status else {},
    )


_activity_ids = iter(range(1000, 100000))


def _call(owner_type, owner_id, when, *, completed=True):
    return Activity.objects.create(
        id=next(_activity_ids),
        owner_type_id=owner_type,
        owner_id=owner_id,
        type_id=2,
        completed=completed,
        start_time=when,
        deadline=when,
        created_at=min(when, MONDAY),
    )


def _decisions(rule=None):
    queryset = Decision.objects.order_by("id")
    return list(queryset.filter(rule=rule) if rule else queryset)


def test_a_client_called_daily_keeps_its_status(portal):
    with in_portal(portal):
        _settings(ladder__statuses=_ladder(hot=30))
        _contact(status="hot")
        for day in range(1, 41):
            _call(3, 10, MONDAY - timedelta(days=day))

        assistants_pass_run(as_of=MONDAY)

        assert _decisions("ladder.decay") == []
        assert ClientState.objects.get(client_id=10).status == "hot"


def test_called_eleven_days_ago_with_a_ten_day_limit_the_client_is_lost(portal):
    with in_portal(portal):
        _settings(
            ladder__statuses=_ladder(new=10),
            ladder__on_loss={"policy": "supervisor", "user_id": None, "cap_per_manager": None},
        )
        _contact(status="new")
        _call(3, 10, MONDAY - timedelta(days=11))

        assistants_pass_run(as_of=MONDAY)

        [decay] = _decisions("ladder.decay")
        assert decay.params["from"] == "new" and decay.params["to"] == "lost"
        assert decay.params["lost"] is True
        assert decay.params["on_loss"]["policy"] == "supervisor"
        assert decay.facts["days"] == 10


def test_decay_jumps_to_the_final_step_in_one_decision(portal):
    with in_portal(portal):
        _settings(ladder__statuses=_ladder(hot=10, warm=10, cold=10))
        _contact(status="hot")
        _call(3, 10, MONDAY - timedelta(days=25))

        assistants_pass_run(as_of=MONDAY)

        [decay] = _decisions("ladder.decay")
        assert (decay.params["from"], decay.params["to"]) == ("hot", "cold")


def test_a_friday_call_allows_a_monday_raise_with_a_three_day_lookback(portal):
    with in_portal(portal):
        _settings(ladder__raise_requires_call=True, ladder__raise_call_lookback_days=3)
        contact = _contact(status="cold")
        _call(3, 10, MONDAY - timedelta(days=2, hours=16))  # Friday 18:00
        assistants_pass_run(as_of=MONDAY - timedelta(hours=1))
        Contact.objects.filter(pk=contact.pk).update(
            uf={"UF_CRM_KEEPWARM_STATUS": ENUM["warm"]}, modified_at=MONDAY
        )

        assistants_pass_run(as_of=MONDAY)

        assert _decisions("ladder.raise_without_call") == []
        assert ClientState.objects.get(client_id=10).status == "warm"


def test_a_raise_without_a_call_is_reverted_and_the_manager_warned(portal):
    with in_portal(portal):
        _settings(ladder__raise_requires_call=True, ladder__raise_call_lookback_days=3)
        contact = _contact(status="cold")
        assistants_pass_run(as_of=MONDAY - timedelta(hours=1))
        Contact.objects.filter(pk=contact.pk).update(
            uf={"UF_CRM_KEEPWARM_STATUS": ENUM["hot"]}, modified_at=MONDAY
        )

        assistants_pass_run(as_of=MONDAY)

        [revert] = _decisions("ladder.raise_without_call")
        assert revert.action == "set_status"
        assert (revert.params["from"], revert.params["to"]) == ("hot", "cold")
        assert revert.params["revert"] is True
        assert ClientState.objects.get(client_id=10).status == "cold"


def test_a_deal_with_a_first_call_planned_next_month_is_not_forgotten(portal):
    with in_portal(portal):
        _settings(deals__enabled=True, deals__days=14)
        Deal.objects.create(
            id=50, title="Renewal", assigned_by_id=5, created_at=MONDAY - timedelta(days=60)
        )
        Deal.objects.create(
            id=51, title="Renewal 2", assigned_by_id=5, created_at=MONDAY - timedelta(days=60)
        )
        _call(2, 50, MONDAY + timedelta(days=30), completed=False)

        assistants_pass_run(as_of=MONDAY)

        assert [d.client_id for d in _decisions("deals.untouched")] == [51]


def test_a_client_with_a_future_period_date_is_not_forgotten(portal):
    with in_portal(portal):
        _settings(
            planned_work__date_fields=[{"entity": "contact", "field": "UF_CRM_PERIOD"}],
            forgotten__days=30,
        )
        _contact(10)
        Contact.objects.filter(pk=10).update(uf={"UF_CRM_PERIOD": "2027-01-15"})
        _contact(11)

        assistants_pass_run(as_of=MONDAY)

        assert [d.client_id for d in _decisions("forgotten.client")] == [11]


def _forgotten_done(client_id, task_id, *, overdue_days):
    decision = Decision.objects.create(
        key=f"forgotten:3:{client_id}:seed",
        assistant="forgotten",
        rule="forgotten.client",
        entity_type_id=3,
        client_id=client_id,
        owner_id=5,
        action="create_task",
        status=Decision.Status.DONE,
        result={"task_id": task_id},
        executed_at=MONDAY - timedelta(days=overdue_days + 3),
    )
    Task.objects.create(
        id=task_id,
        status=2,
        responsible_id=5,
        deadline=MONDAY - timedelta(days=overdue_days),
        crm_bindings=[f"C_{client_id}"],
    )
    return decision


def test_a_client_with_an_open_future_task_is_not_released(portal):
    with in_portal(portal):
        _settings(released__enabled=True, released__days_overdue=7)
        _contact(10)
        _contact(11)
        _forgotten_done(10, 700, overdue_days=10)
        _forgotten_done(11, 701, overdue_days=10)
        Task.objects.create(
            id=702, status=2, responsible_id=5, deadline=MONDAY + timedelta(days=5),
            crm_bindings=["C_10"],
        )  # fmt: skip

        assistants_pass_run(as_of=MONDAY)

        assert [d.client_id for d in _decisions("released.overdue_task")] == [11]


def test_a_manager_on_leave_receives_no_clients(portal):
    with in_portal(portal):
        _settings(released__enabled=True, released__days_overdue=7)
        ManagerAbsence.objects.create(
            user_id=6, starts_on=MONDAY.date() - timedelta(days=1), ends_on=MONDAY.date()
        )
        for client_id in (10, 11, 12):
            _contact(client_id)
            _forgotten_done(client_id, 700 + client_id, overdue_days=10)

        assistants_pass_run(as_of=MONDAY)

        targets = {d.params["to"] for d in _decisions("released.overdue_task")}
        assert targets and 6 not in targets and 5 not in targets


def test_a_mass_release_waits_for_approval(portal):
    with in_portal(portal):
        _settings(released__enabled=True, safety__mass_reassign_threshold=2)
        for client_id in (10, 11, 12):
            _contact(client_id)
            _forgotten_done(client_id, 700 + client_id, overdue_days=10)

        assistants_pass_run(as_of=MONDAY)

        statuses = {d.status for d in _decisions("released.overdue_task")}
        assert statuses == {Decision.Status.AWAITING_APPROVAL}


def test_running_the_same_pass_twice_creates_nothing_new(portal):
    with in_portal(portal):
        _settings(deals__enabled=True, released__enabled=True)
        _contact(10, status="new")
        _contact(11)
        _call(3, 10, MONDAY - timedelta(days=40))

        first = assistants_pass_run(as_of=MONDAY)
        count = Decision.objects.count()
        second = assistants_pass_run(as_of=MONDAY + timedelta(minutes=5))

        assert count > 0
        assert Decision.objects.count() == count
        assert not any(key.startswith(("forgotten", "ladder", "deals")) for key in second.counts)
        assert first.counts


def test_a_dry_run_plans_but_writes_nothing(portal):
    with in_portal(portal):
        _settings()
        _contact(10, status="new")

        preview = assistants_pass_run(as_of=MONDAY, dry_run=True)

        assert preview.planned, preview
        assert {row["rule"] for row in preview.planned} >= {"ladder.decay", "forgotten.client"}
        assert Decision.objects.count() == 0
        assert ClientState.objects.count() == 0


def _ladder(**days):
    statuses = settings_default()["ladder"]["statuses"]
    for status in statuses:
        if status["code"] in days:
            status["days"] = days[status["code"]]
    return statuses


# --- forgotten: one digest task per manager per day -----------------------------------------


def test_a_digest_task_lists_a_managers_forgotten_clients_once_a_day(portal):
    with in_portal(portal):
        _settings(forgotten__digest_task=True, ladder__enabled=False)
        for client_id, owner in ((10, 5), (11, 5), (12, 6)):
            _contact(client_id, owner=owner)

        assistants_pass_run(as_of=MONDAY)

        # One INSERT … SELECT writes them: their ids follow the plan's row order, not the clients'.
        items = sorted(_decisions("forgotten.client"), key=lambda d: d.client_id)
        assert [(d.client_id, d.action, d.status) for d in items] == [
            (10, "digest_item", "queued"), (11, "digest_item", "queued"),
            (12, "digest_item", "queued"),
        ]  # fmt: skip
        digests = {d.owner_id: d for d in _decisions("forgotten.digest")}
        assert set(digests) == {5, 6}
        assert digests[5].key == "forgotten:digest:5:2026-11-23"
        assert digests[5].action == "create_task" and digests[5].params["responsible_id"] == 5
        assert sorted(item[1:] for item in digests[5].params["items"]) == [[3, 10], [3, 11]]
        assert {d.client_id: d.params["digest"] for d in items} == {
            10: digests[5].key, 11: digests[5].key, 12: digests[6].key,
        }  # fmt: skip

        # The digest of manager 5 is sent (as the executor records it); a client forgotten later
        # that day waits for the next day's digest: never a second task the same day.
        Task.objects.create(id=800, status=2, responsible_id=5, deadline=MONDAY + timedelta(days=3),
                            crm_bindings=["C_10", "C_11"])  # fmt: skip
        Decision.objects.filter(pk=digests[5].pk).update(status="done", result={"task_id": 800})
        Decision.objects.filter(client_id__in=[10, 11]).update(
            status="done", result={"task_id": 800}, executed_at=MONDAY
        )
        _contact(13, owner=5)
        assistants_pass_run(as_of=MONDAY + timedelta(hours=1))
        assert len(_decisions("forgotten.digest")) == 2
        [late] = [d for d in _decisions("forgotten.client") if d.client_id == 13]
        assert late.action == "digest_item" and "digest" not in late.params

        # Next day: one new digest with only that client; 10 and 11 have an open reminder.
        assistants_pass_run(as_of=MONDAY + timedelta(days=1))
        new = [
            d
            for d in _decisions("forgotten.digest")
            if d.pk not in {x.pk for x in digests.values()}
        ]
        assert [(d.key, [i[2] for i in d.params["items"]]) for d in new] == [
            ("forgotten:digest:5:2026-11-24", [13])
        ]
        assert len(_decisions("forgotten.client")) == 4


def test_clients_of_an_overdue_digest_task_are_released_without_it(portal):
    with in_portal(portal):
        _settings(forgotten__digest_task=True, released__enabled=True, released__days_overdue=7)
        _contact(10)
        _contact(11)
        Task.objects.create(
            id=800, status=2, responsible_id=5, deadline=MONDAY - timedelta(days=10),
            crm_bindings=["C_10", "C_11"],
        )  # fmt: skip
        digest = Decision.objects.create(
            key="forgotten:digest:5:seed", assistant="forgotten", rule="forgotten.digest",
            entity_type_id=0, client_id=5, owner_id=5, action="create_task", status="done",
            params={"items": [[1, 3, 10], [2, 3, 11]]}, result={"task_id": 800},
        )  # fmt: skip
        for client_id in (10, 11):
            Decision.objects.create(
                key=f"forgotten:3:{client_id}:seed", assistant="forgotten",
                rule="forgotten.client", entity_type_id=3, client_id=client_id, owner_id=5,
                action="digest_item", status="done", params={"digest": digest.key},
                result={"task_id": 800, "digest": digest.pk},
                executed_at=MONDAY - timedelta(days=13),
            )  # fmt: skip

        assistants_pass_run(as_of=MONDAY)

        released = sorted(_decisions("released.overdue_task"), key=lambda d: d.client_id)
        assert [(d.client_id, d.facts["task_id"]) for d in released] == [(10, 800), (11, 800)]
        # The digest task still reminds the manager of the other client: it does not move.
        assert all(d.params["task_ids"] == [] for d in released)
        assert not [d for d in _decisions("forgotten.client") if d.status == "queued"]


def _timed_call(owner_id: int, when: datetime, seconds: int | None):
    end = when + timedelta(seconds=seconds) if seconds is not None else None
    return Activity.objects.create(
        id=next(_activity_ids), owner_type_id=3, owner_id=owner_id, type_id=2, completed=True,
        start_time=when, end_time=end, deadline=when, created_at=when,
    )  # fmt: skip


def test_calls_shorter_than_the_minimum_do_not_count_as_contact(portal):
    with in_portal(portal):
        _settings(activity__min_call_seconds=30, forgotten__days=10, ladder__enabled=False)
        for client_id, seconds in ((10, 5), (11, 120), (12, None)):
            _contact(client_id)
            _timed_call(client_id, MONDAY - timedelta(days=3), seconds)

        assistants_pass_run(as_of=MONDAY)

        # 5 seconds and "never connected" (no end) are not contact; two minutes are.
        assert sorted(d.client_id for d in _decisions("forgotten.client")) == [10, 12]


def test_without_a_minimum_every_completed_call_counts(portal):
    with in_portal(portal):
        _settings(activity__min_call_seconds=0, forgotten__days=10, ladder__enabled=False)
        for client_id, seconds in ((10, 5), (12, None)):
            _contact(client_id)
            _timed_call(client_id, MONDAY - timedelta(days=3), seconds)

        assistants_pass_run(as_of=MONDAY)

        assert _decisions("forgotten.client") == []


def test_a_lost_client_handed_over_is_not_called_an_ignored_reminder(portal):
    from assistants.messages import notification_text
    from assistants.services import followups_create

    with in_portal(portal):
        document = _settings()
        _contact(10)
        handover = Decision.objects.create(
            key="ladder:decay:3:10:new:seed|handover", assistant="ladder",
            rule="ladder.loss_handover", entity_type_id=3, client_id=10, owner_id=5,
            action="reassign", status="done", params={"from": 5, "to": 6},
        )  # fmt: skip

        followups_create(decisions=[handover], settings=document)

        notes = {d.params["message"]: d for d in _decisions() if d.action == "notify"}
        assert set(notes) == {
            "loss_handover_from", "loss_handover_to", "loss_handover_supervisor",
        }  # fmt: skip
        texts = [
            notification_text(d, document, "x.bitrix24.ru", "Client", "ru") for d in notes.values()
        ]
        assert all("Пропал" in text for text in texts), texts
        assert not any("задача-напоминание" in text for text in texts), texts


def _comment(comment_id: int, entity_type: int, entity_id: int, when: datetime, **fields):
    return TimelineComment.objects.create(
        id=comment_id, entity_type_id=entity_type, entity_id=entity_id, author_id=5,
        created_at=when, **{"length": 40, "keepwarm": False, **fields},
    )  # fmt: skip


def test_a_comment_counts_for_its_client_and_a_contacts_comment_for_its_company(portal):
    """Comments aggregate like activities: a company counts its contacts' comments; a short
    one, Keepwarm's own post or one dated after the pass does not count."""
    with in_portal(portal):
        _settings(activity__comments=True, forgotten__days=10, ladder__enabled=False)
        lately = MONDAY - timedelta(days=3)
        Company.objects.create(
            id=40, title="Firm", assigned_by_id=5, created_at=MONDAY - timedelta(days=200)
        )
        for client_id in (10, 11, 12, 13, 14):
            _contact(client_id)
        Contact.objects.filter(pk=14).update(company_id=40)
        _comment(1, 3, 10, lately)
        _comment(2, 3, 11, lately, length=2)  # "ok"
        _comment(3, 3, 12, lately, keepwarm=True)
        _comment(4, 3, 13, MONDAY + timedelta(days=1))
        _comment(5, 3, 14, lately)  # counts for contact 14 and its company 40

        assistants_pass_run(as_of=MONDAY)

        forgotten = {(d.entity_type_id, d.client_id) for d in _decisions("forgotten.client")}
        assert forgotten == {(3, 11), (3, 12), (3, 13)}
