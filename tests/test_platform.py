"""Health, API schema and docs endpoints, and the production deploy checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError


@pytest.mark.django_db(transaction=True)
def test_healthz_is_green_with_database_redis_and_a_worker(client, celery_worker):
    response = client.get("/healthz?format=json")

    assert response.status_code == 200, response.content
    body = response.json()
    checks = {name.split("(")[0]: state for name, state in body.items()}
    assert checks == {"Database": "OK", "Cache": "OK", "Redis": "OK", "Ping": "OK"}, body


def test_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/portal/" in schema.content
    assert docs.status_code == 200


def test_production_settings_pass_the_deploy_checks():
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="keepwarm.example.com",
        KEEPWARM_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        BITRIX_CLIENT_ID="app.keepwarm.test",
        BITRIX_CLIENT_SECRET=secrets.token_urlsafe(24),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_rest_log_retention_below_three_days_fails_the_checks(settings):
    settings.KEEPWARM_REST_LOG_RETENTION_DAYS = 2
    with pytest.raises(SystemCheckError, match=r"keepwarm\.E001"):
        call_command("check")
