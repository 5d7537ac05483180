"""Shared fixtures: portals with real schemas, portal tokens, and a real Celery worker.

Nothing here fakes what we own or can run: PostgreSQL, Redis and the worker are real processes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
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
        """An administrator's API token unless the test asks for another role (is_admin=False)."""
        kwargs.setdefault("is_admin", True)
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


class CeleryWorker:
    """A real Celery worker process (prefork, its own process group) that a test may kill."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.hostname = ""
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.extra_env: dict[str, str] = {}

    def start(self, **extra_env: str) -> CeleryWorker:
        from config.celery import app

        self.extra_env = extra_env
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            DATABASE_URL=self.database_url,
            REDIS_URL=settings.REDIS_URL,
            KEEPWARM_REDIS_NAMESPACE=settings.KEEPWARM_REDIS_NAMESPACE,
            PYTHONUNBUFFERED="1",
            **extra_env,
        )
        self.log_path = ROOT / ".data" / f"test-worker-{self.hostname.split('@')[0]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
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
                    self.hostname,
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the children too
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited early; see {self.log_path}")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return self
        self.kill()
        raise RuntimeError(f"the Celery worker did not come up in 60 s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: a crash, not a shutdown."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, **extra_env: str) -> CeleryWorker:
        self.stop()
        return self.start(**extra_env)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker process on the test database and the test run's own queue."""
    with django_db_blocker.unblock():
        database_url = _database_url_for_tests()
    worker = CeleryWorker(database_url).start()
    yield worker
    worker.stop()


@pytest.fixture
def restartable_worker(celery_worker):
    """The session's worker, for a test that kills or reconfigures it; healthy again afterwards."""
    yield celery_worker
    if celery_worker.extra_env or celery_worker.process.poll() is not None:
        celery_worker.restart()


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


# --- registry equals usage ----------------------------------------------------------------------


def _whole_suite(config) -> bool:
    """Only a run of the whole suite has seen every call; a subset must not fail for that."""
    selected = {str(arg).rstrip("/") for arg in config.args}
    return (
        selected <= {"tests", str(ROOT / "tests")}
        and not config.option.keyword
        and not config.option.markexpr
        and not getattr(config.option, "lf", False)
        and not config.option.deselect
    )


def pytest_sessionfinish(session, exitstatus):
    report_only = bool(os.environ.get("KEEPWARM_USAGE_REPORT"))  # a subset, for a developer
    if exitstatus != 0 or not (_whole_suite(session.config) or report_only):
        return
    from tests.registry_usage import registry_usage_problems
    from tests.sandbox.server import SANDBOX_USAGE

    problems = registry_usage_problems(SANDBOX_USAGE, principal=settings.BITRIX_CLIENT_ID)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        reporter.write_sep("=", "registry does not equal usage", red=True)
        for problem in problems:
            reporter.write_line(problem)
        if not report_only:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        pairs = sum(len(entry["fields"]) for entry in SANDBOX_USAGE)
        reporter.write_line(f"registry equals usage ({pairs} method/field uses seen by sandboxes)")
