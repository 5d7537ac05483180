"""Re-encrypt every stored secret with the primary key of KEEPWARM_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.models import PortalCredentials


class Command(BaseCommand):
    help = "Re-encrypt stored portal secrets with the first (newest) key; then drop old keys."

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for credentials in PortalCredentials.objects.select_for_update().order_by("pk"):
                # Reading decrypts with any configured key; saving encrypts with the primary one.
                credentials.save(
                    update_fields=["access_token", "refresh_token", "application_token"]
                )
                count += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the secrets of {count} portal(s)."))
