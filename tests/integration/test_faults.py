"""Faults (issue 4, acceptance 2): a full sync of a `demo` portal survives a killed worker, a
stretch of 503s and timeouts, and an access token that expires mid-sync; it finishes from its
checkpoint with no duplicates and no gaps."""

from __future__ import annotations

import pytest

from crm_sync.models import RestCallLog, SyncRun, SyncState
from crm_sync.services import sync_runs_resume
from tests.conftest import in_portal, wait_until
from tests.integration.mirror import differences


def _full_run(portal) -> SyncRun | None:
    with in_portal(portal):
        return SyncRun.objects.filter(kind="full").first()


def _progress_reached(portal, share: float):
    def reached():
        run = _full_run(portal)
        if run is None or not run.records_total:
            return None
        return run if run.records_done >= share * run.records_total else None

    return reached


def _finished(portal, timeout: float = 300) -> SyncRun:
    def done():
        run = _full_run(portal)
        return run if run and run.status == "done" else None

    return wait_until(done, timeout=timeout, interval=0.5, what="the full sync to finish")


def _assert_complete(portal, sandbox, run: SyncRun) -> None:
    # No duplicates: every record was counted once, across the interruption.
    assert run.records_done == run.records_total, (run.records_done, run.records_total)
    # No gaps: the mirror equals the portal field by field.
    assert differences(portal, sandbox) == []
    with in_portal(portal):
        assert SyncState.objects.filter(full_done=False).count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(600)
def test_a_worker_killed_mid_full_sync_resumes_from_its_checkpoint(
    sandbox_factory, connect, restartable_worker, settings
):
    sandbox = sandbox_factory(scale="demo", seed=5)
    portal = connect(sandbox)  # queues the first full sync
    wait_until(
        _progress_reached(portal, 0.3), timeout=240, interval=0.05, what="30 % of the full sync"
    )
    # A healthy run is left alone: its worker holds the run's lock.
    settings.KEEPWARM_SYNC_STALL_SECONDS = 0
    with in_portal(portal):
        assert sync_runs_resume(portal) == "resumed:0"

    restartable_worker.kill()  # SIGKILL to the worker and its pool: a crash mid-batch

    interrupted = _full_run(portal)
    assert interrupted.status == "running"
    assert 0 < interrupted.records_done < interrupted.records_total
    restartable_worker.restart()
    with in_portal(portal):
        assert sync_runs_resume(portal) == "resumed:1"  # the periodic job finds the orphan

    run = _finished(portal)
    _assert_complete(portal, sandbox, run)
    resumed = run.detail.get("resumed_from") or []
    assert resumed and all(entry["after_id"] > 0 for entry in resumed), run.detail


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(600)
def test_a_full_sync_rides_out_503s_timeouts_and_an_expired_token(
    sandbox_factory, connect, restartable_worker
):
    # The worker gives up on a silent portal after 2 s instead of 65 s, so timeouts are quick.
    restartable_worker.restart(BITRIX_READ_TIMEOUT="2")
    sandbox = sandbox_factory(scale="demo", seed=6)
    portal = connect(sandbox)

    wait_until(_progress_reached(portal, 0.15), timeout=240, interval=0.05, what="15 % done")
    sandbox.tool("faults", {"mode": "503", "seconds": 4})
    wait_until(_progress_reached(portal, 0.4), timeout=240, interval=0.05, what="40 % done")
    sandbox.tool("faults", {"mode": "timeout", "count": 2, "timeout_seconds": 4})
    wait_until(_progress_reached(portal, 0.6), timeout=240, interval=0.05, what="60 % done")
    refreshes_before = sandbox.tool("stats")["refresh_grants"]
    sandbox.tool("faults", {"mode": "expire_tokens", "count": 1})

    run = _finished(portal)
    _assert_complete(portal, sandbox, run)
    assert sandbox.tool("stats")["refresh_grants"] == refreshes_before + 1
    with in_portal(portal):
        seen = set(RestCallLog.objects.exclude(error_code="").values_list("error_code", flat=True))
    assert {"QUERY_LIMIT_EXCEEDED", "TIMEOUT", "expired_token"} <= seen, seen
