"""The set-based mirror writes a full sync's pages go through (crm_sync.sync.upsert)."""

from datetime import UTC, datetime
from decimal import Decimal

from crm_sync.models import Activity, ActivityBinding, Deal, Task
from crm_sync.sync.entities import ACTIVITY, DEAL, TASK
from crm_sync.sync.upsert import details_imply, mirror_upsert
from tests.conftest import in_portal


def test_a_page_keeps_every_value_type_and_a_second_write_updates_it(portal_factory):
    with in_portal(portal_factory()):
        deal = {"ID": "7", "TITLE": "Rollers", "OPPORTUNITY": "1234.50", "CLOSED": "Y",
                "CONTACT_ID": "3", "DATE_CREATE": "2024-05-01T10:00:00+03:00",
                "UF_CRM_1": {"nested": ["a", 1]}}  # fmt: skip
        task = {"id": "9", "status": "2", "ufCrmTask": ["D_7", "junk", "CO_4"]}

        assert mirror_upsert(DEAL, [deal]) == 1
        assert mirror_upsert(TASK, [task]) == 1

        stored = Deal.objects.get(pk=7)
        assert stored.title == "Rollers"
        assert stored.opportunity == Decimal("1234.50")
        assert stored.closed is True
        assert stored.contact_id == 3
        assert stored.company_id is None  # absent from the row
        assert stored.stage_semantic == "P"
        assert stored.created_at == datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
        assert stored.uf == {"UF_CRM_1": {"nested": ["a", 1]}}
        assert Task.objects.get(pk=9).crm_bindings == ["D_7", "CO_4"]

        assert mirror_upsert(DEAL, [{**deal, "TITLE": "Skates", "OPPORTUNITY": "0"}]) == 1
        stored = Deal.objects.get(pk=7)
        assert (stored.title, stored.opportunity) == ("Skates", Decimal("0"))


def test_implied_bindings_replace_an_activitys_rows_and_leave_ownerless_ones_alone(
    portal_factory,
):
    with in_portal(portal_factory()):
        mirror_upsert(
            ACTIVITY,
            [
                {"ID": "1", "OWNER_TYPE_ID": "3", "OWNER_ID": "10"},
                {"ID": "2", "OWNER_TYPE_ID": "2", "OWNER_ID": "20"},
                {"ID": "3", "OWNER_TYPE_ID": "0", "OWNER_ID": "0"},
                {"ID": "4", "OWNER_TYPE_ID": "3", "OWNER_ID": "40"},
            ],
        )
        # Rows an earlier read stored: a stale one of activity 2, one of the ownerless 3.
        ActivityBinding.objects.create(activity_id=2, entity_type_id=4, entity_id=5)
        ActivityBinding.objects.create(activity_id=3, entity_type_id=4, entity_id=6)

        assert details_imply(ACTIVITY, [1, 2, 3]) == 2

        pairs = set(
            ActivityBinding.objects.values_list("activity_id", "entity_type_id", "entity_id")
        )
        # Activity 4 was not on the page: nothing of its own yet.
        assert pairs == {(1, 3, 10), (2, 2, 20), (3, 4, 6)}
        assert Activity.objects.count() == 4
        assert details_imply(ACTIVITY, [1, 2, 3]) == 2  # again: the same rows, nothing doubled
        assert ActivityBinding.objects.count() == 3
