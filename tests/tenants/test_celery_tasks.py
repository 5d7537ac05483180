"""Portal tasks: in-process schema switching, and a real worker landing in the right schema."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm_sync.models import RestCallLog
from tenants.celery import TaskInputError
from tenants.tasks import portal_job_run
from tests.conftest import in_portal, wait_until

PURGE = "crm_sync.rest_log_purge"


def _old_and_new_rows(portal):
    with in_portal(portal):
        RestCallLog.objects.create(
            method="old.call", created_at=timezone.now() - timedelta(days=30)
        )
        RestCallLog.objects.create(method="new.call")


def _methods(portal):
    with in_portal(portal):
        return sorted(RestCallLog.objects.values_list("method", flat=True))


def test_a_task_switches_to_its_own_portal_whatever_schema_it_starts_in(portal_factory):
    portal_a, portal_b = portal_factory(), portal_factory()
    _old_and_new_rows(portal_a)
    _old_and_new_rows(portal_b)

    connection.set_tenant(portal_b)  # a worker connection left in B by a previous task
    outcome = portal_job_run(portal_id=portal_a.pk, job=PURGE)

    assert outcome == "purged:1"
    assert connection.schema_name == "public"
    assert _methods(portal_a) == ["new.call"]
    assert _methods(portal_b) == ["new.call", "old.call"]


@pytest.mark.parametrize("bad", ["1", None, 0, -3, True, 1.5])
def test_a_task_rejects_a_malformed_portal_id(db, bad):
    with pytest.raises(TaskInputError):
        portal_job_run(portal_id=bad, job=PURGE)


def test_a_task_refuses_positional_arguments(portal_factory):
    portal = portal_factory()
    with pytest.raises(TaskInputError):
        portal_job_run(portal.pk, PURGE)


def test_a_task_for_a_deleted_portal_does_nothing(db):
    assert portal_job_run(portal_id=987654321, job=PURGE) is None


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_task_in_the_right_schema(celery_worker, live_portal_factory):
    portal_a, portal_b = live_portal_factory(), live_portal_factory()
    _old_and_new_rows(portal_a)
    _old_and_new_rows(portal_b)

    portal_job_run.delay(portal_id=portal_a.pk, job=PURGE)

    wait_until(lambda: _methods(portal_a) == ["new.call"], what="the worker to purge A's log")
    assert _methods(portal_b) == ["new.call", "old.call"]


@pytest.mark.django_db(transaction=True)
def test_tasks_are_sent_only_after_the_transaction_commits(celery_worker, live_portal_factory):
    import time

    from django.db import transaction

    rolled_back, committed = live_portal_factory(), live_portal_factory()
    _old_and_new_rows(rolled_back)
    _old_and_new_rows(committed)

    with pytest.raises(RuntimeError), transaction.atomic():
        portal_job_run.delay_on_commit(portal_id=rolled_back.pk, job=PURGE)
        raise RuntimeError("roll back")
    with transaction.atomic():
        portal_job_run.delay_on_commit(portal_id=committed.pk, job=PURGE)

    wait_until(lambda: _methods(committed) == ["new.call"], what="the committed task to run")
    time.sleep(2)  # a message queued before the committed one would have run by now
    assert _methods(rolled_back) == ["new.call", "old.call"]
