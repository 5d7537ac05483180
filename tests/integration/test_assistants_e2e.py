"""Assistants against a sandbox portal, end to end (issue 5, acceptance 1, 2 and 4).

The mirror comes from a real install and full sync; decisions are carried out through the real
client; what they did is read back from the portal itself: tasks, status fields, owners, timeline
comments and notifications, each exactly once, and undone on request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from assistants.models import Decision
from assistants.services import assistant_settings_save, assistants_run, decision_undo
from assistants.settings_schema import settings_default
from crm_sync.models import Company, Contact, Task
from crm_sync.selectors import status_enum_values
from tests.conftest import ROOT, _database_url_for_tests, in_portal, wait_until
from tests.integration.mirror import patient_call

STATUS_FIELD = "UF_CRM_KEEPWARM_STATUS"


def _records(sandbox, entity: str) -> dict[int, dict]:
    return {int(row["ID"]): row for row in sandbox.tool(f"records/{entity}")}


def _marked(rows: dict[int, dict], field: str) -> Counter:
    """How many portal objects carry each decision's KW-<id> marker."""
    found: Counter = Counter()
    for row in rows.values():
        text = str(row.get(field, ""))
        if "KW-" in text:
            found[int(text.rsplit("KW-", 1)[1].split(")")[0].split()[0])] += 1
    return found


def _settings(**changes) -> None:
    document = settings_default()
    for path, value in changes.items():
        node = document
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    assistant_settings_save(document=document, changed_by="test")


def slow_end_to_end(test):
    """A test over a real install and full sync: slow, transactional, with a generous limit."""
    for mark in (
        pytest.mark.slow,
        pytest.mark.django_db(transaction=True),
        pytest.mark.timeout(600),
    ):
        test = mark(test)
    return test


def _give_statuses(sandbox, portal, code: str, contact_ids: list[int], entity="contact") -> None:
    """Managers set a status in Bitrix24; the change reaches the mirror through events."""
    entity_type, model = {"contact": (3, Contact), "company": (4, Company)}[entity]
    with in_portal(portal):
        value = status_enum_values(STATUS_FIELD)[entity_type][code]
    commands = {
        f"c{record_id}": f"crm.{entity}.update?id={record_id}&fields[{STATUS_FIELD}]={value}"
        for record_id in contact_ids
    }
    patient_call(sandbox, "batch", {"halt": 1, "cmd": commands})

    def mirrored() -> bool:
        with in_portal(portal):
            matching = model.objects.filter(pk__in=contact_ids, uf__contains={STATUS_FIELD: value})
            return matching.count() == len(contact_ids)

    wait_until(mirrored, timeout=30, what="the statuses to reach the mirror")


def _assert_carried_out_once(sandbox, portal) -> dict[str, int]:
    """Every done decision's effect is on the portal, and no effect is there twice."""
    tasks, comments = _records(sandbox, "task"), _records(sandbox, "comment")
    clients = {3: _records(sandbox, "contact"), 4: _records(sandbox, "company")}
    tasks_by_decision = _marked(tasks, "TITLE")
    comments_by_decision = _marked(comments, "COMMENT")
    assert all(n == 1 for n in tasks_by_decision.values()), tasks_by_decision.most_common(3)
    assert all(n == 1 for n in comments_by_decision.values()), comments_by_decision.most_common(3)
    with in_portal(portal):
        enums = status_enum_values(STATUS_FIELD)
        done = list(Decision.objects.filter(status="done").order_by("id"))
        moved = {  # tasks that went along with a later hand-over of their client
            int(task_id): int(d.params["to"])
            for d in done
            if d.action == "reassign" and d.params.get("move_tasks")
            for task_id in d.params.get("task_ids", [])
        }
        for decision in done:
            if decision.action == "create_task":
                task_id = int(decision.result["task_id"])
                task = tasks[task_id]
                assert f"KW-{decision.pk}" in task["TITLE"]
                expected = moved.get(task_id, decision.params["responsible_id"])
                assert int(task["RESPONSIBLE_ID"]) == expected
                prefix = {3: "C", 4: "CO", 2: "D"}[decision.entity_type_id]
                assert task["UF_CRM_TASK"] == [f"{prefix}_{decision.client_id}"]
            elif decision.action == "set_status":
                record = clients[decision.entity_type_id][decision.client_id]
                expected = enums[decision.entity_type_id][decision.params["to"]]
                assert record[STATUS_FIELD] == expected
            elif decision.action == "reassign":
                record = clients[decision.entity_type_id][decision.client_id]
                if decision.params.get("open"):
                    assert record["OPENED"] == "Y"
                else:
                    assert int(record["ASSIGNED_BY_ID"]) == int(decision.params["to"])
        with_posts = [d for d in done if d.action in {"create_task", "set_status", "reassign"}]
    assert set(comments_by_decision) == {d.pk for d in with_posts}
    return {"tasks": len(tasks_by_decision), "comments": len(comments_by_decision)}


@slow_end_to_end
def test_assistants_act_on_the_portal_once_and_undo_restores_it(synced_sandbox):
    sandbox, portal = synced_sandbox(seed=3)
    # Fifteen clients were marked "new" by their managers and then left alone: they decay.
    _give_statuses(sandbox, portal, "new", list(range(1, 16)))
    with in_portal(portal):
        _settings(
            released__enabled=True,
            released__days_overdue=7,
            safety__mass_reassign_threshold=10_000,
            notifications__hour=timezone.now().astimezone(ZoneInfo(portal.time_zone)).hour,
        )
        preview, _, _ = assistants_run(portal=portal, dry_run=True)
        assert Decision.objects.count() == 0  # a preview acts on nothing
        result, executed, notified = assistants_run(portal=portal, send_notifications=True)
        counts = dict(result.counts)
        assert counts == dict(preview.counts)  # the preview said exactly what happened
        assert counts.get("forgotten.create_task", 0) > 0 and counts.get("ladder.set_status", 0) > 0
        assert executed.failed == 0 and notified.done > 0
    first = _assert_carried_out_once(sandbox, portal)
    notifications = sandbox.tool("notifications")
    assert notifications and len({n["tag"] for n in notifications}) == len(notifications)

    # The same pass again: nothing new, on our side or on the portal.
    with in_portal(portal):
        again, executed_again, _ = assistants_run(portal=portal, as_of=result.as_of)
        assert executed_again.done == 0 and sum(again.counts.values()) == 0
    assert _assert_carried_out_once(sandbox, portal) == first

    # Twelve days later the forgotten tasks are a week overdue: their clients are handed over.
    with in_portal(portal):
        created = [
            int(result["task_id"])
            for result in Decision.objects.filter(action="create_task").values_list(
                "result", flat=True
            )
        ]
    wait_until(
        lambda: _mirrored_tasks(portal, created) == len(created),
        timeout=30,
        what="the new tasks to reach the mirror",
    )
    later = timezone.now() + timedelta(days=12)
    with in_portal(portal):
        released, executed, _ = assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert released.counts.get("released.reassign", 0) > 0, released.counts
        assert executed.failed == 0
    _assert_carried_out_once(sandbox, portal)

    # Undo: the hand-over and the status change are reverted on the portal.
    with in_portal(portal):
        handover = Decision.objects.filter(
            action="reassign", status="done", rule__startswith="released"
        ).first()
        decay = Decision.objects.filter(action="set_status", status="done").first()
        before_owner = handover.params["from"]
        before_status = status_enum_values(STATUS_FIELD)[3][decay.params["from"]]
        decision_undo(decision_id=handover.pk, by="supervisor")
        decision_undo(decision_id=decay.pk, by="supervisor")
        assistants_run(portal=portal, as_of=later, send_notifications=False)
        assert Decision.objects.filter(rule="undo", status="done").count() == 2
    contacts = _records(sandbox, "contact")
    assert int(contacts[handover.client_id]["ASSIGNED_BY_ID"]) == int(before_owner)
    assert contacts[decay.client_id][STATUS_FIELD] == before_status


@slow_end_to_end
def test_lost_contacts_and_companies_are_opened_to_everyone(synced_sandbox):
    sandbox, portal = synced_sandbox(seed=3)
    _give_statuses(sandbox, portal, "new", list(range(1, 9)))
    _give_statuses(sandbox, portal, "new", list(range(1, 9)), entity="company")
    with in_portal(portal):
        _settings(ladder__on_loss={"policy": "open", "user_id": None, "cap_per_manager": None})
        result, executed, _ = assistants_run(portal=portal, send_notifications=False)
        assert executed.failed == 0
        lost = Decision.objects.filter(action="set_status", params__to="lost", status="done")
        opened = Decision.objects.filter(action="reassign", params__open=True, status="done")
        assert {d.entity_type_id for d in lost} == {3, 4}, result.counts
        assert {(d.entity_type_id, d.client_id) for d in opened} == {
            (d.entity_type_id, d.client_id) for d in lost
        }
    _assert_carried_out_once(sandbox, portal)


def _mirrored_tasks(portal, task_ids: list[int]) -> int:
    with in_portal(portal):
        return Task.objects.filter(pk__in=task_ids).count()


@slow_end_to_end
def test_an_executor_killed_mid_batch_and_run_again_duplicates_nothing(synced_sandbox):
    sandbox, portal = synced_sandbox(seed=4)
    # The portal carries out the executor's first batch, then holds its answer back for a minute.
    sandbox.tool(
        "faults", {"mode": "slow_answer", "method": "batch", "count": 1, "timeout_seconds": 60}
    )
    before = sandbox.tool("stats")["requests"].get("tasks.task.add", 0)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "KEEPWARM_REDIS_NAMESPACE": settings.KEEPWARM_REDIS_NAMESPACE,
    }
    command = [sys.executable, "manage.py", "run_assistants", portal.member_id, "--no-notify"]
    runner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_until(
            lambda: sandbox.tool("stats")["requests"].get("tasks.task.add", 0) > before,
            timeout=120,
            what="the executor's first batch to reach the portal",
        )
    finally:
        runner.kill()  # the crash: tasks exist on the portal, the outbox does not know it
        runner.wait()
    with in_portal(portal):
        stuck = Decision.objects.filter(status="executing").count()
        assert stuck > 0

        _, executed, _ = assistants_run(portal=portal, send_notifications=False)

        assert executed.recovered == stuck
        assert not Decision.objects.filter(status__in=["executing", "queued"]).exists()
        recovered = Decision.objects.filter(result__recovered=True).count()
    assert recovered > 0
    counts = _assert_carried_out_once(sandbox, portal)
    with in_portal(portal):
        assert counts["tasks"] == Decision.objects.filter(action="create_task").count() > 0
