import pytest
from django.db import connection

from assistants.models import AssistantSettings
from config.errors import Conflict, ValidationFailed
from crm_sync.models import RestCallLog
from tenants.models import Portal
from tenants.services import portal_create, portal_delete, portal_schema_name
from tests.conftest import in_portal


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def test_creating_a_portal_creates_and_migrates_its_schema(portal_factory):
    portal = portal_factory()

    assert portal.schema_name == portal_schema_name(portal.member_id)
    assert _schema_exists(portal.schema_name)
    with in_portal(portal):
        assert RestCallLog.objects.count() == 0  # the tenant tables exist and are empty


def test_deleting_a_portal_drops_its_schema(portal_factory):
    portal = portal_factory()
    schema = portal.schema_name

    portal_delete(portal=portal)

    assert not _schema_exists(schema)
    assert not Portal.objects.filter(schema_name=schema).exists()


def test_rows_of_one_portal_are_invisible_in_another(portal_factory):
    portal_a, portal_b = portal_factory(), portal_factory()
    with in_portal(portal_a):
        RestCallLog.objects.create(method="crm.contact.list", http_status=200)
        AssistantSettings.objects.create(version=1, document={"owner": "a"})
    with in_portal(portal_b):
        assert RestCallLog.objects.count() == 0
        assert AssistantSettings.objects.count() == 0
        # Unqualified SQL resolves to B's own tables, never to A's.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM crm_sync_restcalllog")
            assert cursor.fetchone()[0] == 0
    with in_portal(portal_a):
        assert RestCallLog.objects.get().method == "crm.contact.list"


def test_tenant_tables_do_not_exist_in_the_public_schema(db):
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name = 'crm_sync_restcalllog'"
        )
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize(
    ("member_id", "domain"),
    [("", "ok.bitrix24.ru"), ("bad id!", "ok.bitrix24.ru"), ("ok", "bad domain/")],
)
def test_portal_create_rejects_malformed_identity(db, member_id, domain):
    with pytest.raises(ValidationFailed):
        portal_create(member_id=member_id, domain=domain)
    assert not Portal.objects.filter(member_id=member_id).exists()


def test_portal_create_refuses_a_second_portal_with_the_same_member_id(portal_factory):
    portal = portal_factory()
    with pytest.raises(Conflict):
        portal_create(member_id=portal.member_id, domain="other.bitrix24.ru")
    assert Portal.objects.filter(member_id=portal.member_id).count() == 1
