import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from tenants.jobs import portal_job_get, portal_jobs
from tenants.locks import lease_release
from tenants.models import Portal, PortalJobSchedule
from tenants.services import scheduler_tick_run

JOB = "crm_sync.rest_log_purge"


@pytest.fixture(autouse=True)
def _fresh_lease():
    lease_release("scheduler-tick")
    yield
    lease_release("scheduler-tick")


def test_a_tick_enqueues_each_due_job_once_and_pushes_it_forward(
    portal_factory, django_capture_on_commit_callbacks
):
    active = portal_factory()
    portal_factory(install_state=Portal.InstallState.UNINSTALLED)
    now = timezone.now()

    with django_capture_on_commit_callbacks() as callbacks:
        result = scheduler_tick_run(now=now)

    assert result.enqueued == len(portal_jobs())
    assert len(callbacks) == result.enqueued
    row = PortalJobSchedule.objects.get(portal=active, job=JOB)
    assert row.next_run_at == now + portal_job_get(JOB).interval
    assert not PortalJobSchedule.objects.exclude(portal=active).exists()

    lease_release("scheduler-tick")
    with django_capture_on_commit_callbacks() as callbacks:
        again = scheduler_tick_run(now=now + timedelta(seconds=1))
    assert again.enqueued == 0
    assert callbacks == []


def test_a_second_scheduler_inside_the_lease_window_does_nothing(portal_factory):
    portal_factory()
    first = scheduler_tick_run()
    second = scheduler_tick_run()

    assert first.enqueued >= 1
    assert second.skipped_by_lease is True
    assert second.enqueued == 0


def test_work_per_tick_is_bounded(portal_factory, django_capture_on_commit_callbacks):
    for _ in range(5):
        portal_factory()
    now = timezone.now()

    with django_capture_on_commit_callbacks():
        first = scheduler_tick_run(now=now, batch=2)
    lease_release("scheduler-tick")
    with django_capture_on_commit_callbacks():
        second = scheduler_tick_run(now=now, batch=2)

    assert first.enqueued == 2
    assert second.enqueued == 2  # the rest waits for the following tick
    assert (
        PortalJobSchedule.objects.filter(last_enqueued_at__isnull=True).count()
        == 5 * len(portal_jobs()) - 4
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_never_claim_the_same_row(live_portal_factory):
    for _ in range(6):
        live_portal_factory()
    now = timezone.now()
    # Both run past the lease, as two schedulers on hosts with skewed clocks could.
    results = []

    def tick():
        try:
            lease_release("scheduler-tick")
            results.append(scheduler_tick_run(now=now))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    connection.set_schema_to_public()
    total_due = 6 * len(portal_jobs())
    assert sum(result.enqueued for result in results) == total_due
    assert PortalJobSchedule.objects.filter(last_enqueued_at__isnull=True).count() == 0
