"""`manage.py sandbox_portal …`: the sandbox Bitrix24 portal (see sandbox.portal.cli)."""

import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve a sandbox Bitrix24 portal (python manage.py sandbox_portal --help)."

    def run_from_argv(self, argv):
        from sandbox.portal.cli import main

        sys.exit(main(argv[2:]))

    def handle(self, *args, **options):  # pragma: no cover - run_from_argv does the work
        raise NotImplementedError
