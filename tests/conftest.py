"""Shared fixtures: portals with real schemas, portal tokens, and a real Celery worker.

Nothing here fakes what we own or can run: PostgreSQL, Redis and the worker are real processes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count(1)


def _new_portal(**overrides):
    from tenants.services import portal_create

    n = next(_counter)
    fields = {
        "member_id": uuid.uuid4().hex,
        "domain": f"portal{n}-{uuid.uuid4().hex[:6]}.bitrix24.test",
        "install_state": "active",
    }
    fields.update(overrides)
    return portal_create(**fields)


@pytest.fixture
def portal_factory(db):
    """Portals created inside the test's transaction: their schemas vanish with the rollback."""
    return _new_portal


@pytest.fixture
def live_portal_factory(transactional_db):
    """Committed portals (visible to the worker); dropped with their schemas afterwards."""
    from tenants.services import portal_delete

    created = []

    def make(**overrides):
        portal = _new_portal(**overrides)
        created.append(portal)
        return portal

    yield make
    connection.set_schema_to_public()
    for portal in created:
        with contextlib.suppress(Exception):
            portal.refresh_from_db()
            portal_delete(portal=portal)


@contextlib.contextmanager
def in_portal(portal):
    """Run a block in a portal's schema, back to public afterwards."""
    connection.set_tenant(portal)
    try:
        yield portal
    finally:
        connection.set_schema_to_public()


@pytest.fixture
def portal_token():
    from tenants.services import portal_api_token_issue

    def issue(portal, **kwargs) -> str:
        return portal_api_token_issue(portal=portal, **kwargs)

    return issue


@pytest.fixture
def bearer(portal_token):
    """HTTP headers for the Django test client carrying a portal token."""

    def headers(portal, **kwargs) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {portal_token(portal, **kwargs)}"}

    return headers


def _database_url_for_tests() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker process on the test database and the test run's own queue."""
    from config.celery import app

    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    with django_db_blocker.unblock():
        database_url = _database_url_for_tests()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        KEEPWARM_REDIS_NAMESPACE=settings.KEEPWARM_REDIS_NAMESPACE,
        PYTHONUNBUFFERED="1",
    )
    log_path = ROOT / ".data" / f"test-worker-{hostname.split('@')[0]}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "-n",
            hostname,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited early; see {log_path}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            break
    else:
        worker.kill()
        raise RuntimeError(f"the Celery worker did not come up in 60 s; see {log_path}")
    yield {"hostname": hostname, "process": worker, "log": log_path}
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    log.close()


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until `predicate()` is truthy; fail with a message that says what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def staff_login():
    """Log a staff user in with a verified second factor, as the back office demands."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    def login(client, user):
        device = StaticDevice.objects.create(user=user, name="test")
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return device

    return login
