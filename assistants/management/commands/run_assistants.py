"""`manage.py run_assistants MEMBER_ID [--dry-run] [--at ISO8601] [--reindex]`: one pass, then
its outbox; with --reindex the statuses as set in Bitrix24 are taken in first (after an import)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from assistants.services import assistants_run, ladder_reindex
from crm_sync.bitrix.errors import BitrixError
from tenants.models import Portal


class Command(BaseCommand):
    help = "Run every assistant for one portal and carry out (or, with --dry-run, list) decisions."

    def add_arguments(self, parser):
        parser.add_argument("member_id")
        parser.add_argument("--dry-run", action="store_true", help="show what would happen")
        parser.add_argument("--at", help="evaluate as of this ISO 8601 moment (default: now)")
        parser.add_argument("--no-notify", action="store_true", help="leave notifications queued")
        parser.add_argument("--json", action="store_true", help="print the plan as JSON")
        parser.add_argument(
            "--reindex",
            action="store_true",
            help="first take in every status as set in Bitrix24 now (after a bulk import)",
        )

    def handle(self, *args, member_id, dry_run, at, no_notify, reindex=False, **options):
        portal = Portal.objects.filter(member_id=member_id).first()
        if portal is None:
            raise CommandError(f"No portal with member_id {member_id!r}.")
        if not portal.is_active:
            raise CommandError(f"Portal {portal.domain} is {portal.get_install_state_display()}.")
        as_of = None
        if at:
            as_of = parse_datetime(at)
            if as_of is None or as_of.tzinfo is None:
                raise CommandError("--at needs an ISO 8601 moment with a time zone.")
        if reindex and dry_run:
            raise CommandError("--reindex changes statuses: it cannot be part of a --dry-run.")
        with portal:
            if reindex:
                counts = ladder_reindex(portal=portal, by="manage.py run_assistants --reindex")
                self.stdout.write(
                    f"Re-indexed: {counts['taken_in']} taken in, {counts['cleared']} cleared, "
                    f"{counts['skipped']} queued ladder decisions skipped"
                )
            try:
                result, executed, notified = assistants_run(
                    portal=portal, as_of=as_of, dry_run=dry_run, send_notifications=not no_notify
                )
            except BitrixError as exc:
                raise CommandError(f"Assistants failed talking to Bitrix24: {exc}") from exc
        kind = "Preview" if dry_run else "Pass"
        self.stdout.write(self.style.SUCCESS(f"{kind} as of {result.as_of:%Y-%m-%d %H:%M} UTC"))
        self.stdout.write(f"  clients evaluated: {result.clients}")
        for name, count in sorted(result.counts.items()):
            if not name.startswith("rule."):
                self.stdout.write(f"  {name:<28} {count}")
        if executed is not None:
            self.stdout.write(
                f"  executed: {executed.done} done, {executed.failed} failed, "
                f"{executed.retried} to retry"
            )
        if notified is not None:
            self.stdout.write(f"  notifications: {notified.done} sent, {notified.failed} failed")
        if dry_run and options.get("json"):
            self.stdout.write(json.dumps(result.planned, default=str, indent=1))
        elif dry_run:
            for row in result.planned[:50]:
                self.stdout.write(
                    f"  - {row['rule']:<26} {row['action']:<12} "
                    f"{row['entity_type_id']}:{row['client_id']} → {row['params'].get('to', '')}"
                )
