import pytest

from crm_sync.bitrix.client import BitrixClient
from crm_sync.bitrix.errors import UndeclaredCall
from crm_sync.bitrix.registry import call_check, call_fields, declared_methods
from crm_sync.models import RestCallLog
from tests.conftest import in_portal


def test_every_declaration_names_scope_access_purpose_and_feature():
    specs = declared_methods()
    assert {spec.name for spec in specs} >= {"batch", "crm.contact.list", "crm.activity.list"}
    for spec in specs:
        assert (
            spec.scope and spec.access in {"read", "write"} and str(spec.purpose) and spec.feature
        )


def test_an_undeclared_method_is_refused():
    with pytest.raises(UndeclaredCall, match="UNDECLARED_METHOD"):
        call_check("crm.contact.delete", {"id": 5}, member_id="m1")


def test_an_undeclared_field_is_refused_even_inside_a_filter():
    with pytest.raises(UndeclaredCall, match="PHONE"):
        call_check("crm.contact.list", {"select": ["ID", "PHONE"]})
    with pytest.raises(UndeclaredCall, match="EMAIL"):
        call_check("crm.contact.list", {"select": ["ID"], "filter": {"%EMAIL": "@example"}})


def test_reads_must_name_their_fields():
    with pytest.raises(UndeclaredCall, match="select"):
        call_check("crm.deal.list", {"filter": {">ID": 0}})


def test_user_fields_and_operator_prefixes_are_understood():
    params = {
        "select": ["ID", "UF_CRM_PERIOD"],
        "filter": {">=DATE_MODIFY": "2026-01-01", "@ASSIGNED_BY_ID": [1, 2], "!UF_CRM_X": ""},
        "order": {"ID": "ASC"},
        "start": -1,
    }
    call_check("crm.contact.list", params)
    assert call_fields("crm.contact.list", params) == {
        "ID",
        "UF_CRM_PERIOD",
        "DATE_MODIFY",
        "ASSIGNED_BY_ID",
        "UF_CRM_X",
    }


def test_an_unknown_parameter_is_refused():
    with pytest.raises(UndeclaredCall, match="UNDECLARED_PARAM"):
        call_check("crm.contact.list", {"select": ["ID"], "params": {"REGISTER_SONET_EVENT": "Y"}})


def test_a_batch_with_one_undeclared_command_sends_nothing(portal_factory):
    portal = portal_factory()
    client = BitrixClient.for_portal(portal)

    with pytest.raises(UndeclaredCall):
        client.batch(
            {
                "ok": ("crm.contact.list", {"select": ["ID"]}),
                "bad": ("crm.contact.delete", {"id": 1}),
            }
        )

    assert client.requests_sent == 0
    with in_portal(portal):
        assert RestCallLog.objects.count() == 0
