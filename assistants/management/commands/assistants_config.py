"""`manage.py assistants_config MEMBER_ID --export FILE | --import FILE`."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assistants.selectors import assistant_settings_current
from assistants.services import assistant_settings_save
from config.errors import ValidationFailed
from tenants.models import Portal


class Command(BaseCommand):
    help = "Export or import a portal's assistant settings as one JSON document."

    def add_arguments(self, parser):
        parser.add_argument("member_id")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--export", metavar="FILE")
        group.add_argument("--import", dest="import_file", metavar="FILE")

    def handle(self, *args, member_id, export, import_file, **options):
        portal = Portal.objects.filter(member_id=member_id).first()
        if portal is None:
            raise CommandError(f"No portal with member_id {member_id!r}.")
        with portal:
            if export:
                current = assistant_settings_current()
                Path(export).write_text(
                    json.dumps(current.document, ensure_ascii=False, indent=2), encoding="utf-8"
                )
                self.stdout.write(f"Exported settings version {current.version} to {export}.")
                return
            try:
                document = json.loads(Path(import_file).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise CommandError(f"Cannot read {import_file}: {exc}") from exc
            try:
                saved = assistant_settings_save(document=document, changed_by="assistants_config")
            except ValidationFailed as exc:
                problems = "\n".join(
                    f"  {pointer}: {message}"
                    for pointer, message in exc.extra.get("fields", {}).items()
                )
                raise CommandError(f"{exc.message}\n{problems}") from exc
        self.stdout.write(self.style.SUCCESS(f"Imported as settings version {saved.version}."))
