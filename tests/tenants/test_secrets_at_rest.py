import io

from django.db import connection

from tenants import crypto
from tenants.models import PortalCredentials
from tenants.services import portal_credentials_save


def _raw_tokens(portal_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM tenants_portalcredentials "
            "WHERE portal_id = %s",
            [portal_id],
        )
        return cursor.fetchone()


def _save(portal):
    return portal_credentials_save(
        portal=portal,
        client_endpoint="https://portal.example/rest/",
        server_endpoint="https://oauth.example/rest/",
        access_token="access-plain-123",
        refresh_token="refresh-plain-456",
        expires_in=3600,
        application_token="app-token-789",
    )


def test_tokens_are_stored_encrypted_and_read_back_in_clear(portal_factory):
    portal = portal_factory()
    _save(portal)

    raw_access, raw_refresh = _raw_tokens(portal.pk)
    stored = PortalCredentials.objects.get(portal=portal)

    assert raw_access.startswith("fernet:") and "access-plain-123" not in raw_access
    assert "refresh-plain-456" not in raw_refresh
    assert stored.access_token == "access-plain-123"
    assert stored.refresh_token == "refresh-plain-456"


def test_key_rotation_reencrypts_everything_so_the_old_key_can_go(portal_factory, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    settings.KEEPWARM_ENCRYPTION_KEYS = [old_key]
    crypto.reset_key_cache()
    try:
        portal = portal_factory()
        _save(portal)
        raw_before, _ = _raw_tokens(portal.pk)

        settings.KEEPWARM_ENCRYPTION_KEYS = [new_key, old_key]
        crypto.reset_key_cache()
        call_command("rotate_encryption_keys", stdout=io.StringIO())
        raw_after, _ = _raw_tokens(portal.pk)

        settings.KEEPWARM_ENCRYPTION_KEYS = [new_key]
        crypto.reset_key_cache()
        assert raw_after != raw_before
        assert PortalCredentials.objects.get(portal=portal).access_token == "access-plain-123"
    finally:
        crypto.reset_key_cache()
