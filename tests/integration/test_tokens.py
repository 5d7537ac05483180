"""Token refresh that is safe with many worker processes (issue 3, acceptance 2)."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tenants.models import PortalCredentials
from tests.conftest import ROOT, _database_url_for_tests


@pytest.mark.django_db(transaction=True)
def test_eight_processes_refreshing_one_expired_token_refresh_it_once(synced_sandbox):
    sandbox, portal = synced_sandbox()
    before = PortalCredentials.objects.get(portal=portal)
    grants_before = sandbox.tool("stats")["refresh_grants"]
    sandbox.tool("clock", {"advance_seconds": 3601})  # every access token is now stale

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "KEEPWARM_REDIS_NAMESPACE": settings.KEEPWARM_REDIS_NAMESPACE,
    }
    start_at = str(time.time() + 3)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.refresh_probe", str(portal.pk), start_at],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(8)
    ]  # fmt: skip
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [p.returncode for p in processes] == [0] * 8, [o[1][-800:] for o in outputs]
    assert all(out.startswith("ok 50") for out, _ in outputs)
    assert sandbox.tool("stats")["refresh_grants"] == grants_before + 1
    after = PortalCredentials.objects.get(portal=portal)
    assert after.refresh_count == before.refresh_count + 1
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
