"""The mirror: a full export equal to the portal, kept current by events and the sweep."""

import time

import pytest

from crm_sync.models import SyncRun, SyncState
from crm_sync.services import sync_run_execute
from tests.conftest import in_portal, wait_until
from tests.integration.mirror import differences


def _full_sync_done(portal, timeout=120):
    def done():
        with in_portal(portal):
            return SyncRun.objects.filter(kind="full", status="done").exists()

    wait_until(done, timeout=timeout, what="the first full sync")


@pytest.mark.django_db(transaction=True)
def test_the_first_full_sync_makes_the_mirror_equal_to_the_portal(
    sandbox_factory, connect, celery_worker
):
    sandbox = sandbox_factory()
    portal = connect(sandbox)

    _full_sync_done(portal)

    assert differences(portal, sandbox) == []
    with in_portal(portal):
        run = SyncRun.objects.get(kind="full")
        assert run.records_done >= run.records_total > 0
        assert SyncState.objects.filter(full_done=True).count() == 8  # all but users, departments


@pytest.mark.django_db(transaction=True)
def test_an_event_reaches_the_mirror_within_seconds(sandbox_factory, connect, celery_worker):
    sandbox = sandbox_factory()
    portal = connect(sandbox)
    _full_sync_done(portal)
    from crm_sync.models import Contact

    started = time.monotonic()
    sandbox.hook("crm.contact.update", {"id": 7, "fields": {"LAST_NAME": "Eventov"}})
    sandbox.hook("crm.contact.delete", {"id": 8})

    def arrived():
        with in_portal(portal):
            return (
                Contact.objects.filter(pk=7, last_name="Eventov").exists()
                and not Contact.objects.filter(pk=8).exists()
            )

    wait_until(arrived, timeout=15, what="the events to reach the mirror")
    assert time.monotonic() - started < 15


@pytest.mark.django_db(transaction=True)
def test_a_sweep_catches_changes_whose_events_were_lost(sandbox_factory, connect, celery_worker):
    sandbox = sandbox_factory()
    portal = connect(sandbox)
    _full_sync_done(portal)
    sandbox.tool("config", {"event_loss": 1.0})
    sandbox.hook("crm.deal.update", {"id": 3, "fields": {"TITLE": "Renamed quietly"}})
    sandbox.hook("crm.company.delete", {"id": 5})
    sandbox.hook("crm.contact.add", {"fields": {"NAME": "Quiet", "LAST_NAME": "Newcomer"}})

    with in_portal(portal):
        sync_run_execute(portal=portal, run=SyncRun.objects.create(kind="sweep"))

    assert differences(portal, sandbox) == []
