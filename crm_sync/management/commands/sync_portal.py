"""`manage.py sync_portal MEMBER_ID [--full]`: one sync, synchronously, with a progress bar."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from crm_sync.bitrix.errors import BitrixError
from crm_sync.models import SyncRun
from crm_sync.selectors import sync_status
from crm_sync.services import full_sync_reset, sync_run_execute
from tenants.models import Portal


class Command(BaseCommand):
    help = "Run one sync of a portal (sweep + reconciliation, or --full) and print a summary."

    def add_arguments(self, parser):
        parser.add_argument("member_id")
        parser.add_argument("--full", action="store_true", help="export everything again")
        parser.add_argument(
            "--resume", action="store_true", help="with --full: continue from the checkpoints"
        )

    def handle(self, *args, member_id: str, full: bool, resume: bool, **options):
        portal = Portal.objects.filter(member_id=member_id).first()
        if portal is None:
            raise CommandError(f"No portal with member_id {member_id!r}.")
        if not portal.is_active:
            raise CommandError(f"Portal {portal.domain} is {portal.get_install_state_display()}.")
        started = time.monotonic()
        with portal:
            if full and not resume:
                full_sync_reset()
            run = SyncRun.objects.create(kind=SyncRun.Kind.FULL if full else SyncRun.Kind.SWEEP)
            bar = tqdm(total=0, unit="rec", disable=not full, file=self.stderr._out)

            def progress(current: SyncRun) -> None:
                bar.total = current.records_total or 0
                bar.n = current.records_done
                bar.refresh()

            try:
                run = sync_run_execute(portal=portal, run=run, progress=progress)
            except BitrixError as exc:
                raise CommandError(f"Sync failed: {exc}") from exc
            finally:
                bar.close()
            status = sync_status()
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"{run.get_kind_display()} sync of {portal.domain} finished in {elapsed:.1f}s: "
                f"{run.records_done} records, {run.requests} requests."
            )
        )
        for entity in status.entities:
            self.stdout.write(f"  {entity.entity:<11} {entity.records:>9}")
