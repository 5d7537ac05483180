"""`make demo`: set everything up, then serve the web app, a worker and the scheduler.

With --once it stops after setup and prints a summary (exit 0), which is what CI and newcomers
use to check that a clean checkout works.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from tenants.models import Portal, PortalMember
from tenants.services import portal_api_token_issue, portal_create

DEMO_MEMBER_ID = "keepwarm-demo-portal"
DEMO_DOMAIN = "demo.keepwarm.local"


class Command(BaseCommand):
    help = "Set up the demo (database, demo portal, logins) and serve it until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="stop after setup, print a summary")
        parser.add_argument("--port", type=int, default=int(os.environ.get("KEEPWARM_PORT", 8000)))

    def handle(self, *args, once: bool, port: int, **options):
        started = time.monotonic()
        self._step("Migrating the public schema and every portal schema")
        call_command("migrate_schemas", interactive=False, verbosity=0)
        portal = self._demo_portal()
        vendor_password, vendor_code = self._vendor_superuser()
        admin_password = self._client_admin(portal)
        token = portal_api_token_issue(portal=portal)
        base = f"http://127.0.0.1:{port}"

        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"Keepwarm demo is set up in {time.monotonic() - started:.1f}s")
        )
        self.stdout.write(
            f"  portals:             {Portal.objects.exclude(schema_name='public').count()}"
        )
        self.stdout.write(f"  demo portal:         {portal.domain} (member_id {portal.member_id})")
        self.stdout.write(
            f"  back office:         {base}/admin/  vendor / {vendor_password}, "
            f"one-time code {vendor_code}"
        )
        self.stdout.write(
            f"  client admin login:  {base}/accounts/login/  demo-admin / {admin_password}"
        )
        self.stdout.write(f"  API docs:            {base}/api/docs/")
        self.stdout.write(f"  health:              {base}/healthz")
        self.stdout.write(f"  security sheet:      {base}/security/")
        self.stdout.write(f"  API token (15 min):  {token}")
        if once:
            return
        self._serve(port)

    def _step(self, text: str) -> None:
        self.stdout.write(f"• {text}…")

    def _demo_portal(self) -> Portal:
        connection.set_schema_to_public()
        portal = Portal.objects.filter(member_id=DEMO_MEMBER_ID).first()
        if portal is None:
            self._step("Creating the demo portal and its schema")
            portal = portal_create(
                member_id=DEMO_MEMBER_ID,
                domain=DEMO_DOMAIN,
                install_state=Portal.InstallState.ACTIVE,
            )
        return portal

    def _vendor_superuser(self) -> tuple[str, str]:
        """A fresh password and a single-use second-factor code on every run, printed once."""
        from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username="vendor", defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        device, _ = StaticDevice.objects.get_or_create(user=user, name="demo one-time codes")
        device.token_set.all().delete()
        code = StaticToken.random_token()
        StaticToken.objects.create(device=device, token=code)
        return password, code

    def _client_admin(self, portal: Portal) -> str:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username="demo-admin")
        user.set_password(password)
        user.save()
        PortalMember.objects.get_or_create(user=user, portal=portal)
        return password

    def _serve(self, port: int) -> None:
        python = sys.executable
        data = Path(settings.DATA_DIR)
        data.mkdir(exist_ok=True)
        commands = {
            "web": [
                python, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-",
            ],
            "worker": [
                python, "-m", "celery", "-A", "config", "worker",
                "--loglevel=INFO", "--concurrency=2", "-n", "demo-worker@%h",
            ],
            "scheduler": [
                python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
                "--schedule", str(data / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        processes = {
            name: subprocess.Popen(cmd, env=os.environ.copy())  # noqa: S603 - our own commands
            for name, cmd in commands.items()
        }
        self.stdout.write(self.style.SUCCESS("Serving web, worker and scheduler. Ctrl-C stops."))
        stopping = {"now": False}

        def stop(signum, _frame):
            stopping["now"] = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping["now"]:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping")
                        stopping["now"] = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
