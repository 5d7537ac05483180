"""Managers' absences from the Bitrix24 absence chart (issue 5), played on a sandbox portal.

An absence entered in the portal's absence chart reaches Keepwarm's mirror on the next refresh
(calendar.accessibility.get through the real client), and the assistants then treat the manager
as away exactly as if a supervisor had entered the leave in Keepwarm: no clients handed to them
round robin, none released from them. A meeting (busy) is not an absence. A portal that did not
grant the `calendar` scope skips the refresh with a reason and still runs its pass.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from assistants.models import Decision, ManagerAbsence
from assistants.selectors import users_away
from assistants.services import assistants_run
from crm_sync.bitrix.registry import requested_scopes
from crm_sync.models import Company, Contact, Task, UserAbsence
from crm_sync.sync.absences import absences_refresh_job
from tests.conftest import in_portal
from tests.integration.test_assistant_scenarios import (
    PORTAL,
    _add,
    _iso,
    _portal_tasks_bound_to,
    _until_mirrored,
)
from tests.integration.test_assistants_e2e import _records, _settings, slow_end_to_end
from tests.integration.test_sync import _full_sync_done


def _released(**filters) -> dict[int, Decision]:
    decisions = Decision.objects.filter(rule="released.overdue_task", action="reassign", **filters)
    return {d.client_id: d for d in decisions}


@slow_end_to_end
def test_an_absence_in_the_bitrix24_absence_chart_pauses_release_and_round_robin(synced_sandbox):
    """Department 3: head 7, managers 8 to 11. Manager 8 forgets clients; 9 is on leave in the
    absence chart (nobody tells Keepwarm); 11 has a meeting that day; 7, 10 and 11 may receive
    8's clients, and the client of 9 stays with 9."""
    sandbox, portal = synced_sandbox(**PORTAL, extra=["--backdating"])
    now = timezone.now().replace(microsecond=0)
    later = now + timedelta(days=12)
    owner, absent, meeting, eligible = 8, 9, 11, {7, 10, 11}
    people = {f"r{n}": owner for n in range(1, 5)} | {"leave": absent}
    # Round robin favours the least loaded: make 9 the least loaded by far, so only its absence
    # keeps it from receiving the first client.
    with in_portal(portal):
        loads = Counter(Contact.objects.values_list("assigned_by_id", flat=True))
        loads.update(Company.objects.values_list("assigned_by_id", flat=True))
    busiest = max(loads[user] for user in (absent, *eligible)) + 6
    fillers = {
        f"busy{user}_{n}": {"NAME": "Busy", "LAST_NAME": f"Client{n}", "ASSIGNED_BY_ID": user}
        for user in eligible
        for n in range(busiest - loads[user])
    }
    clients = {
        key: {"NAME": key.capitalize(), "LAST_NAME": "Absentov", "ASSIGNED_BY_ID": manager,
              "DATE_CREATE": _iso(now - timedelta(days=90))}
        for key, manager in people.items()
    }  # fmt: skip
    ids = _add(sandbox, "crm.contact.add", {**clients, **fillers})
    _until_mirrored(
        portal,
        "the clients to reach the mirror",
        lambda: Contact.objects.filter(pk__in=ids.values()).count() == len(ids),
    )
    with in_portal(portal):
        _settings(
            ladder__enabled=False,
            forgotten__days=30,
            forgotten__task_days=3,
            released__enabled=True,
            released__days_overdue=7,
            released__handover={"policy": "round_robin", "user_id": None, "cap_per_manager": None},
        )
        _, executed, _ = assistants_run(portal=portal, as_of=now, send_notifications=False)
        assert executed.failed == 0, executed.errors
    for key, manager in people.items():
        [task] = _portal_tasks_bound_to(sandbox, f"C_{ids[key]}")
        assert int(task["RESPONSIBLE_ID"]) == manager, key
    with in_portal(portal):
        created = [int(d.result["task_id"]) for d in Decision.objects.filter(action="create_task")]
    _until_mirrored(
        portal,
        "Keepwarm's tasks to reach the mirror",
        lambda: Task.objects.filter(pk__in=created).count() == len(created),
    )
    # Were nobody away, twelve days later 9 would receive a client and lose its own.
    with in_portal(portal):
        preview, _, _ = assistants_run(portal=portal, as_of=later, dry_run=True)
    would = {
        row["client_id"]: row["params"].get("to")
        for row in preview.planned
        if row["rule"] == "released.overdue_task" and row["entity_type_id"] == 3
    }
    assert absent in {would[ids[f"r{n}"]] for n in range(1, 5)}, would
    assert ids["leave"] in would

    # In Bitrix24, HR enters 9's leave in the absence chart; 11 books a meeting for that day.
    leave = sandbox.tool(
        "calendar",
        {"user_id": absent, "from": str((later - timedelta(days=2)).date()),
         "to": str((later + timedelta(days=8)).date()), "name": "Отпуск"},
    )  # fmt: skip
    day = later.date().isoformat()
    sandbox.tool(
        "calendar",
        {"user_id": meeting, "from": f"{day}T09:00:00+03:00", "to": f"{day}T18:00:00+03:00",
         "accessibility": "busy", "name": "Выставка"},
    )  # fmt: skip
    with in_portal(portal):
        assert not users_away(as_of=later)
        assert absences_refresh_job(portal) == "absences:1"  # the next hourly refresh
        mirrored = list(UserAbsence.objects.values_list("user_id", "event_id", "ends_on"))
        assert mirrored == [(absent, leave["ID"], (later + timedelta(days=8)).date())]
        assert not ManagerAbsence.objects.exists()  # nobody told Keepwarm
        assert users_away(as_of=later) == {absent}  # the meeting of 11 is no absence
        assert users_away(as_of=later + timedelta(days=9)) == set()

        _, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert executed.failed == 0, executed.errors
        released = _released(status="done")
    targets = {int(d.params["to"]) for d in released.values()}
    contacts = _records(sandbox, "contact")
    # Round robin skips the absent manager everywhere on the portal; the manager with a meeting
    # (not mirrored, not away) stays eligible.
    assert targets and absent not in targets
    for key in ("r1", "r2", "r3", "r4"):
        new_owner = int(released[ids[key]].params["to"])
        assert new_owner in eligible and int(contacts[ids[key]]["ASSIGNED_BY_ID"]) == new_owner
    # The absent manager's own client is left alone.
    assert ids["leave"] not in released
    assert int(contacts[ids["leave"]]["ASSIGNED_BY_ID"]) == absent

    # A refresh replaces the window whole: run twice, the mirror holds the entry once.
    with in_portal(portal):
        assert absences_refresh_job(portal) == "absences:1"
        assert UserAbsence.objects.count() == 1


@slow_end_to_end
def test_a_portal_without_the_calendar_scope_skips_the_absence_chart_and_still_runs(
    sandbox_factory, connect, celery_worker
):
    from tenants.models import PortalCredentials

    sandbox = sandbox_factory(**PORTAL)
    scopes = [scope for scope in requested_scopes() if scope != "calendar"]
    portal = connect(sandbox, "--scope", ",".join(scopes))
    _full_sync_done(portal)
    sandbox.tool("calendar", {"user_id": 9, "from": str(timezone.localdate()),
                              "to": str(timezone.localdate() + timedelta(days=3))})  # fmt: skip
    now = timezone.now()
    with in_portal(portal):
        assert absences_refresh_job(portal) == "skipped:no_calendar_scope"
        assert not UserAbsence.objects.exists()
        # Keepwarm's own list still works, and the pass runs.
        ManagerAbsence.objects.create(
            user_id=8, starts_on=now.date(), ends_on=now.date() + timedelta(days=1)
        )
        assert users_away(as_of=now) == {8}
        _settings(released__enabled=True)
        _, executed, _ = assistants_run(portal=portal, as_of=now, send_notifications=False)
        assert executed.failed == 0, executed.errors

    # A stored scope list that claims `calendar` while the portal refuses it (the grant was
    # taken back): the refresh is skipped with that reason, not failed.
    credentials = PortalCredentials.objects.get(portal=portal)
    credentials.scope = f"{credentials.scope},calendar"
    credentials.save(update_fields=["scope"])
    with in_portal(portal):
        assert absences_refresh_job(portal) == "skipped:calendar_denied"
        assert not UserAbsence.objects.exists()
