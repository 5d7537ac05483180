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
    UserAbsence,
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


def test_a_manager_absent_in_the_bitrix24_absence_chart_receives_no_clients(portal):
    """The mirrored absence chart counts like Keepwarm's own list (and a Keepwarm entry for
    someone else does not hide it)."""
    with in_portal(portal):
        _settings(released__enabled=True, released__days_overdue=7)
        UserAbsence.objects.create(
            user_id=6, event_id=41, starts_on=MONDAY.date(), ends_on=MONDAY.date()
        )
        ManagerAbsence.objects.create(  # next week: not away today
            user_id=90,
            starts_on=MONDAY.date() + timedelta(days=1),
            ends_on=MONDAY.date() + timedelta(days=5),
        )
        for client_id in (10, 11, 12):
            _contact(client_id)
            _forgotten_done(client_id, 700 + client_id, overdue_days=10)

        assistants_pass_run(as_of=MONDAY)

        targets = {d.params["to"] for d in _decisions("released.overdue_task")}
        assert targets == {7, 90}


def test_clients_of_a_manager_absent_in_the_absence_chart_are_not_released(portal):
    with in_portal(portal):
        _settings(released__enabled=True, released__days_overdue=7)
        UserAbsence.objects.create(
            user_id=5,
            event_id=42,
            starts_on=MONDAY.date() - timedelta(days=3),
            ends_on=MONDAY.date() + timedelta(days=3),
        )
        _contact(10)
        _forgotten_done(10, 710, overdue_days=10)

        assistants_pass_run(as_of=MONDAY)
        assert _decisions("released.overdue_task") == []

        # The day after the absence ends, the overdue client is released after all.
        assistants_pass_run(as_of=MONDAY + timedelta(days=4))
        assert [d.client_id for d in _decisions("released.overdue_task")] == [10]


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


# --- re-indexing after a bulk import of statuses (seed 001) ---------------------------------


def test_a_bulk_status_import_is_taken_in_by_a_reindex_instead_of_reverted(portal):
    from assistants.models import ClientEvent
    from assistants.services import ladder_reindex

    with in_portal(portal):
        _settings(ladder__statuses=_ladder(hot=400, cold=400), ladder__raise_requires_call=True)
        for client_id in range(10, 40):
            _contact(client_id, status="cold")
        assistants_pass_run(as_of=MONDAY - timedelta(days=1))  # Keepwarm adopts them as cold
        # An Excel import raises twenty of them to Hot and clears five; nobody called anyone.
        Contact.objects.filter(id__in=range(10, 30)).update(
            uf={"UF_CRM_KEEPWARM_STATUS": ENUM["hot"]}, modified_at=MONDAY
        )
        Contact.objects.filter(id__in=range(30, 35)).update(uf={}, modified_at=MONDAY)
        # The pass that sees it first takes the raises for managers' mistakes: reverts queued.
        assistants_pass_run(as_of=MONDAY)
        reverts = _decisions("ladder.raise_without_call")
        assert sorted(d.client_id for d in reverts) == list(range(10, 30))

        counts = ladder_reindex(portal=portal, by="supervisor", as_of=MONDAY + timedelta(hours=1))

        assert counts == {"taken_in": 20, "cleared": 0, "skipped": 20}
        assert {d.status for d in _decisions("ladder.raise_without_call")} == {"skipped"}
        states = dict(ClientState.objects.values_list("client_id", "status"))
        assert {cid for cid, status in states.items() if status == "hot"} == set(range(10, 30))
        assert {cid for cid, status in states.items() if status == "cold"} == set(range(35, 40))
        assert not set(states) & set(range(30, 35))  # cleared by the pass: out of the ladder
        hot = ClientState.objects.get(client_id=10)
        assert hot.status_since == MONDAY + timedelta(hours=1)  # a fresh clock for a new status
        assert ClientState.objects.get(client_id=35).status_since < MONDAY - timedelta(days=100)
        events = ClientEvent.objects.filter(kind="status_reindexed")
        assert sorted(e.client_id for e in events) == list(range(10, 30))
        assert {(e.detail["from"], e.detail["to"]) for e in events} == {("cold", "hot")}
        assert all("supervisor" in e.reason for e in events)
        # Nothing more to take in; the next pass plans no revert.
        again = ladder_reindex(portal=portal, by="supervisor", as_of=MONDAY + timedelta(hours=2))
        assert again == {"taken_in": 0, "cleared": 0, "skipped": 0}
        assistants_pass_run(as_of=MONDAY + timedelta(hours=3))
        assert (
            Decision.objects.filter(rule="ladder.raise_without_call", status="queued").count() == 0
        )


def test_a_reindex_clears_and_adopts_what_no_pass_has_seen_yet(portal):
    from assistants.services import ladder_reindex

    with in_portal(portal):
        _settings(ladder__statuses=_ladder(cold=400))
        for client_id in (10, 11):
            _contact(client_id, status="cold")
        assistants_pass_run(as_of=MONDAY - timedelta(days=1))
        Contact.objects.filter(id=10).update(uf={})  # cleared in Bitrix24
        _contact(12, status="warm")  # imported with a status, not seen by a pass yet
        _contact(13)  # no status: stays out of the ladder

        counts = ladder_reindex(portal=portal, by="admin", as_of=MONDAY)

        assert counts == {"taken_in": 1, "cleared": 1, "skipped": 0}
        states = dict(ClientState.objects.values_list("client_id", "status"))
        assert states == {11: "cold", 12: "warm"}
        assert ClientState.objects.get(client_id=12).status_since == MONDAY


def test_a_reindex_needs_the_ladder(portal):
    from assistants.services import ladder_reindex
    from config.errors import Conflict

    with in_portal(portal):
        _settings(ladder__enabled=False)
        with pytest.raises(Conflict):
            ladder_reindex(portal=portal, by="admin")


# --- scope: every rule limited by entity type, owner, pipeline/stage and user fields ------------


def _branch_contacts():
    """Contacts 10 (north), 11 (south) and 12 (no branch), all silent for 200 days."""
    for client_id, branch in ((10, "north"), (11, "south"), (12, None)):
        _contact(client_id)
        if branch:
            Contact.objects.filter(pk=client_id).update(uf={"UF_CRM_BRANCH": branch})


@pytest.mark.parametrize(
    ("condition", "forgotten"),
    [
        ({"op": "eq", "value": "north"}, [10]),
        ({"op": "ne", "value": "north"}, [11, 12]),
        ({"op": "in", "value": ["north", "south"]}, [10, 11]),
        ({"op": "not_in", "value": ["north"]}, [11, 12]),
        ({"op": "empty"}, [12]),
        ({"op": "not_empty"}, [10, 11]),
    ],
)
def test_the_forgotten_rule_is_limited_by_a_user_field_condition(portal, condition, forgotten):
    with in_portal(portal):
        _settings(
            ladder__enabled=False,
            forgotten__scope={"conditions": [{"field": "UF_CRM_BRANCH", **condition}]},
        )
        _branch_contacts()

        assistants_pass_run(as_of=MONDAY)

        assert sorted(d.client_id for d in _decisions("forgotten.client")) == forgotten


def test_the_forgotten_rule_is_limited_by_owner_and_entity_type(portal):
    with in_portal(portal):
        _settings(
            ladder__enabled=False,
            entities=["contact", "company"],
            forgotten__scope={"entities": ["contact"], "owners": [6]},
        )
        _contact(10, owner=5)
        _contact(11, owner=6)
        Company.objects.create(
            id=20, title="Firm", assigned_by_id=6, created_at=MONDAY - timedelta(days=200)
        )

        assistants_pass_run(as_of=MONDAY)

        assert [(d.entity_type_id, d.client_id) for d in _decisions("forgotten.client")] == [
            (3, 11)
        ]


def test_the_deals_rule_is_limited_by_pipeline_and_stage(portal):
    with in_portal(portal):
        _settings(
            ladder__enabled=False,
            deals__enabled=True,
            deals__scope={"deal_categories": [1], "deal_stages": ["C1:NEW", "C1:OFFER"]},
        )
        for deal_id, category, stage in (
            (50, 0, "NEW"), (51, 1, "C1:NEW"), (52, 1, "C1:WON_SOON"), (53, 1, "C1:OFFER")
        ):  # fmt: skip
            Deal.objects.create(
                id=deal_id, title="Deal", assigned_by_id=5, category_id=category, stage_id=stage,
                created_at=MONDAY - timedelta(days=60),
            )  # fmt: skip

        assistants_pass_run(as_of=MONDAY)

        assert sorted(d.client_id for d in _decisions("deals.untouched")) == [51, 53]


def test_the_ladder_acts_only_within_its_scope_and_keeps_the_other_statuses(portal):
    with in_portal(portal):
        _settings(
            ladder__statuses=_ladder(hot=10),
            ladder__scope={
                "conditions": [{"field": "UF_CRM_BRANCH", "op": "eq", "value": "north"}]
            },
            forgotten__enabled=False,
        )
        for client_id, branch in ((10, "north"), (11, "south")):
            _contact(client_id, status="hot")
            Contact.objects.filter(pk=client_id).update(
                uf={"UF_CRM_KEEPWARM_STATUS": ENUM["hot"], "UF_CRM_BRANCH": branch}
            )
            _call(3, client_id, MONDAY - timedelta(days=40))

        assistants_pass_run(as_of=MONDAY)

        assert [d.client_id for d in _decisions("ladder.decay")] == [10]
        assert ClientState.objects.get(client_id=11).status == "hot"  # read, kept, not decayed


def test_the_released_rule_never_hands_over_clients_outside_its_scope(portal):
    with in_portal(portal):
        _settings(
            released__enabled=True,
            released__days_overdue=7,
            released__scope={"conditions": [{"field": "UF_CRM_KEY_ACCOUNT", "op": "empty"}]},
        )
        for client_id in (10, 11):
            _contact(client_id)
            _forgotten_done(client_id, 700 + client_id, overdue_days=10)
        Contact.objects.filter(pk=10).update(uf={"UF_CRM_KEY_ACCOUNT": "1"})

        assistants_pass_run(as_of=MONDAY)

        assert [d.client_id for d in _decisions("released.overdue_task")] == [11]


# --- the status ladder: the activity stream digest, once a day ---------------------------------


def test_stream_posts_list_soon_changing_clients_once_a_day_per_manager_and_team(portal):
    with in_portal(portal):
        _settings(
            ladder__statuses=_ladder(new=10),
            ladder__warn_days_before=3,
            forgotten__enabled=False,
            notifications__stream_digest=True,
        )
        for client_id, owner, silent in ((10, 5, 8), (11, 5, 9), (12, 6, 9), (13, 5, 2)):
            _contact(client_id, status="new", owner=owner)
            _call(3, client_id, MONDAY - timedelta(days=silent))

        assistants_pass_run(as_of=MONDAY)
        assistants_pass_run(as_of=MONDAY + timedelta(minutes=10))  # nothing new, nothing twice

        posts = {d.key: d for d in _decisions("ladder.stream_digest")}
        assert set(posts) == {
            "ladder:stream:5:2026-11-23",
            "ladder:stream:6:2026-11-23",
            "ladder:stream-team:90:2026-11-23",  # department 1 is headed by user 90
        }
        mine = posts["ladder:stream:5:2026-11-23"]
        assert (mine.action, mine.owner_id, mine.status) == ("stream_post", 5, "queued")
        assert sorted(item[2:5] + item[6:] for item in mine.params["items"]) == [
            [10, "new", "lost", 10],
            [11, "new", "lost", 10],
        ]
        team = posts["ladder:stream-team:90:2026-11-23"]
        assert team.owner_id == 90 and team.params["team"] is True
        assert sorted(item[2] for item in team.params["items"]) == [10, 11, 12]
        warnings = {d.client_id: d for d in _decisions("ladder.warning")}
        assert set(warnings) == {10, 11, 12}
        assert warnings[12].params["stream"] == "ladder:stream:6:2026-11-23"
        assert warnings[12].params["team_stream"] == team.key

        # Manager 5's post is out; a client warned later that day waits for tomorrow's post,
        # while the team's post, not sent yet, still takes it in.
        Decision.objects.filter(pk=mine.pk).update(status="done", result={"post_id": 1})
        _contact(14, status="new", owner=5)
        _call(3, 14, MONDAY - timedelta(days=8))
        assistants_pass_run(as_of=MONDAY + timedelta(hours=1))
        assert len(_decisions("ladder.stream_digest")) == 3
        [late] = Decision.objects.filter(rule="ladder.warning", client_id=14)
        assert "stream" not in late.params and late.params["team_stream"] == team.key

        assistants_pass_run(as_of=MONDAY + timedelta(days=1))
        [tomorrow] = Decision.objects.filter(key="ladder:stream:5:2026-11-24")
        assert [item[2] for item in tomorrow.params["items"]] == [14]


def test_without_the_option_no_stream_post_is_planned(portal):
    with in_portal(portal):
        _settings(ladder__statuses=_ladder(new=10), ladder__warn_days_before=3)
        _contact(10, status="new")
        _call(3, 10, MONDAY - timedelta(days=8))

        assistants_pass_run(as_of=MONDAY)

        assert len(_decisions("ladder.warning")) == 1
        assert _decisions("ladder.stream_digest") == []


def test_a_stream_post_leaves_out_clients_whose_warning_a_reindex_skipped(portal):
    from assistants.executor import _stream_items_current

    with in_portal(portal):
        _settings(
            ladder__statuses=_ladder(new=10),
            ladder__warn_days_before=3,
            forgotten__enabled=False,
            notifications__stream_digest=True,
        )
        for client_id, owner in ((10, 5), (11, 5), (12, 6)):
            _contact(client_id, status="new", owner=owner)
            _call(3, client_id, MONDAY - timedelta(days=8))
        assistants_pass_run(as_of=MONDAY)
        Decision.objects.filter(rule="ladder.warning", client_id__in=[10, 12]).update(
            status="skipped"
        )
        posts = [d for d in _decisions("ladder.stream_digest") if not d.params.get("team")]

        empty = _stream_items_current(posts)

        assert [post.owner_id for post in empty] == [6]  # nothing left to tell manager 6
        [mine] = Decision.objects.filter(key="ladder:stream:5:2026-11-23")
        assert [item[2] for item in mine.params["items"]] == [11]


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
