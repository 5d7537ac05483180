"""`make demo`: set everything up, then serve the web app, a worker and the scheduler.

With --once it stops after setup and prints a summary (exit 0), which is what CI and newcomers
use to check that a clean checkout works.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenants.models import Portal, PortalMember
from tenants.services import portal_api_token_issue, portal_delete

DEMO_MEMBER_ID = "keepwarm-demo-portal"  # the placeholder portal of earlier demos, removed


class Command(BaseCommand):
    help = (
        "Set up the demo: a sandbox Bitrix24 portal, Keepwarm installed into it, a full sync, "
        "the assistants' first passes; then serve it all until Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="stop after setup, print a summary")
        parser.add_argument("--port", type=int, default=int(os.environ.get("KEEPWARM_PORT", 8000)))
        parser.add_argument(
            "--sandbox-port", type=int, default=int(os.environ.get("KEEPWARM_SANDBOX_PORT", 8100))
        )
        parser.add_argument("--scale", default="demo", help="sandbox size: small, demo, large")

    def handle(self, *args, once: bool, port: int, sandbox_port: int, scale: str, **options):
        started = time.monotonic()
        base = f"http://127.0.0.1:{port}"
        settings.KEEPWARM_PUBLIC_URL = os.environ["KEEPWARM_PUBLIC_URL"] = base
        self._step("Migrating the public schema and every portal schema")
        call_command("migrate_schemas", interactive=False, verbosity=0)
        vendor_password, vendor_code = self._vendor_superuser()
        self._forget_previous_demo()
        self.processes: dict[str, subprocess.Popen] = {}
        try:
            self._step(f"Starting a '{scale}' sandbox Bitrix24 portal")
            sandbox = self._start_sandbox(sandbox_port, scale)
            self._step("Starting Keepwarm's web app and worker")
            self._start_keepwarm(port, with_scheduler=not once)
            self._step("Installing Keepwarm into the sandbox portal (the real install flow)")
            portal = self._connect(sandbox["base"])
            self._follow_sync(portal)
            story = self._assistants(portal, sandbox["base"])
            admin_password = self._client_admin(portal)
            token = portal_api_token_issue(portal=portal, is_admin=True)
            self._summary(started, base, sandbox, portal, story, vendor_password, vendor_code)
            self.stdout.write(
                f"  client admin login:  {base}/accounts/login/  demo-admin / {admin_password}"
            )
            self.stdout.write(f"  API token (15 min):  {token}")
            if not once:
                self._serve()
        finally:
            self._stop_all()

    def _summary(self, started, base, sandbox, portal, story, vendor_password, vendor_code):
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"Keepwarm demo is set up in {time.monotonic() - started:.1f}s")
        )
        self.stdout.write(
            f"  portals:             {Portal.objects.exclude(schema_name='public').count()}"
        )
        self.stdout.write(f"  demo portal:         {portal.domain} (member_id {portal.member_id})")
        self.stdout.write(
            f"  sandbox portal:      {sandbox['base']}  (webhook {sandbox['webhook']})"
        )
        self.stdout.write(
            f"  on the portal now:   {story['tasks']} tasks, {story['comments']} timeline "
            f"comments, {story['notifications']} notifications, {story['feed_posts']} activity "
            f"stream posts, {story['reassigned']} clients handed over"
        )
        self.stdout.write(f"  see them:            {sandbox['base']}/sandbox/records/task")
        self.stdout.write(
            f"  back office:         {base}/admin/  vendor / {vendor_password}, "
            f"one-time code {vendor_code}"
        )
        self.stdout.write(f"  API docs:            {base}/api/docs/")
        self.stdout.write(f"  health:              {base}/healthz")
        self.stdout.write(f"  security sheet:      {base}/security/")

    # --- the sandbox and Keepwarm's processes ---------------------------------------------------

    def _forget_previous_demo(self) -> None:
        """Each demo starts from a fresh sandbox, so the portal it was connected to goes too."""
        connection.set_schema_to_public()
        marker = Path(settings.DATA_DIR) / "demo-member-id"
        member_ids = [DEMO_MEMBER_ID]
        if marker.exists():
            member_ids.append(marker.read_text().strip())
        for portal in Portal.objects.filter(member_id__in=member_ids):
            self._step(f"Removing the previous demo portal {portal.domain}")
            portal_delete(portal=portal)
        shutil.rmtree(Path(settings.DATA_DIR) / "sandbox-demo", ignore_errors=True)

    def _start_sandbox(self, port: int, scale: str) -> dict:
        command = [
            sys.executable, "-m", "sandbox", "--port", str(port), "--scale", scale,
            "--seed", "7", "--state-dir", str(Path(settings.DATA_DIR) / "sandbox-demo"),
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - our own command
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.processes["sandbox"] = process
        info: dict = {}
        for line in process.stdout:
            if line.startswith("Sandbox portal: "):
                info["base"] = line.split(": ", 1)[1].strip()
            elif line.startswith("Webhook (admin): "):
                info["webhook"] = line.split(": ", 1)[1].strip()
            elif line.startswith("State: "):
                self.stdout.write(f"  {line.strip()}")
            elif line.strip() == "Ready.":
                threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
                return info
        raise CommandError("The sandbox portal did not start (is the port taken?).")

    def _start_keepwarm(self, port: int, *, with_scheduler: bool) -> None:
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
        }  # fmt: skip
        if with_scheduler:
            commands["scheduler"] = [
                python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
                "--schedule", str(data / "celerybeat-schedule"),
            ]  # fmt: skip
        log = (data / "demo-services.log").open("a")
        for name, command in commands.items():
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own commands
                command, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/security/", timeout=2).status_code == 200:
                    self.stdout.write(f"  logs: {data / 'demo-services.log'}")
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise CommandError("Keepwarm's web app did not come up in 60 s; see demo-services.log.")

    def _connect(self, sandbox_base: str) -> Portal:
        out = io.StringIO()
        call_command("connect_portal", "--sandbox", sandbox_base, stdout=out)
        member_id = out.getvalue().strip().splitlines()[-1]
        (Path(settings.DATA_DIR) / "demo-member-id").write_text(member_id)
        return Portal.objects.get(member_id=member_id)

    def _follow_sync(self, portal: Portal) -> None:
        """Show the first full sync's progress (it runs in the worker, like in production)."""
        from crm_sync.selectors import sync_progress

        self._step("Full sync of the portal's CRM into its mirror")
        deadline = time.monotonic() + 1800
        shown = ""
        while time.monotonic() < deadline:
            with portal:
                progress = sync_progress()
            line = _progress_line(progress)
            if line != shown:
                self.stdout.write(f"  {line}")
                shown = line
            if progress and progress["status"] == "done":
                return
            if progress and progress["status"] == "failed":
                raise CommandError(f"The full sync failed: {progress.get('error')}")
            time.sleep(1.0)
        raise CommandError("The full sync did not finish in 30 minutes.")

    def _assistants(self, portal: Portal, sandbox_base: str) -> dict:
        """The first pass now, then the same portal twelve days later, when forgotten tasks are a
        week overdue and their clients are handed over (after the mass hand-over is approved)."""
        from assistants.demo import demo_story

        with portal:
            return demo_story(portal=portal, sandbox_base=sandbox_base, write=self.stdout.write)

    def _serve(self) -> None:
        self.stdout.write(
            self.style.SUCCESS("Serving web, worker, scheduler and the sandbox. Ctrl-C stops.")
        )
        stopping = {"now": False}

        def stop(signum, _frame):
            stopping["now"] = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping["now"]:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with {process.returncode}; stopping")
                    stopping["now"] = True
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def _step(self, text: str) -> None:
        self.stdout.write(f"• {text}…")

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


def _progress_line(progress: dict | None) -> str:
    if not progress:
        return "waiting for the worker to start the sync…"
    done, total = progress["records_done"], progress["records_total"]
    if not total:
        return f"{progress['status']}: counting records…"
    eta = progress.get("eta_seconds")
    eta_text = f", ETA {eta:.0f}s" if eta is not None and progress["status"] != "done" else ""
    return (
        f"{progress['status']}: {done:,} / {total:,} records ({100 * done / total:.0f} %)"
        f", {progress['requests']} requests{eta_text}"
    )
