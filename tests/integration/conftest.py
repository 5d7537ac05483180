"""Keepwarm against a running sandbox portal: the real install flow, sync and assistants."""

from __future__ import annotations

import contextlib
import io

import pytest
from django.core.management import call_command
from django.db import connection

from tests.sandbox.server import Receiver, SandboxProcess


@pytest.fixture
def sandbox_factory(tmp_path):
    started: list[SandboxProcess] = []

    def start(**options) -> SandboxProcess:
        portal = SandboxProcess(tmp_path / f"sandbox{len(started)}", **options).start()
        started.append(portal)
        return portal

    yield start
    for portal in started:
        portal.stop()


@pytest.fixture
def connect(live_server, settings, transactional_db):
    """Install Keepwarm into a sandbox through Bitrix24's install flow; drop the portal after."""
    from tenants.models import Portal
    from tenants.services import portal_delete

    settings.KEEPWARM_PUBLIC_URL = live_server.url
    connected: list[str] = []

    def install(sandbox: SandboxProcess, *options: str) -> Portal:
        out = io.StringIO()
        call_command("connect_portal", "--sandbox", sandbox.base, *options, stdout=out)
        member_id = out.getvalue().strip().splitlines()[-1]
        connected.append(member_id)
        return Portal.objects.get(member_id=member_id)

    yield install
    connection.set_schema_to_public()
    for portal in Portal.objects.filter(member_id__in=connected):
        with contextlib.suppress(Exception):
            portal_delete(portal=portal)


@pytest.fixture
def synced_sandbox(sandbox_factory, connect, celery_worker):
    """A sandbox portal with Keepwarm installed and its first full sync done."""
    from tests.integration.test_sync import _full_sync_done

    def start(scopes: str = "", **options):
        sandbox = sandbox_factory(**options)
        portal = connect(sandbox, *(("--scope", scopes) if scopes else ()))
        _full_sync_done(portal)
        return sandbox, portal

    return start


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()
