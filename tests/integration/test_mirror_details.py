"""Deal product rows and activity bindings: read by the details backfill after the first full
sync, kept current by events, and the backfill resumes where it stopped."""

import pytest

from crm_sync.bitrix.client import BitrixClient
from crm_sync.models import Activity, ActivityBinding, Deal, DealProductRow, RestCallLog, SyncState
from crm_sync.selectors import activities_bound_to, activity_bindings, deal_product_rows
from crm_sync.sync.backfill import details_backfill
from crm_sync.sync.entities import BY_KEY
from tests.conftest import in_portal, wait_until
from tests.integration.mirror import differences


@pytest.mark.django_db(transaction=True)
def test_product_rows_and_bindings_follow_their_record(synced_sandbox):
    sandbox, portal = synced_sandbox()

    with in_portal(portal):
        assert details_backfill(BitrixClient.for_portal(portal)).done
        # A call logged on a deal is bound to the client it reached as well as to the deal.
        bound_twice = next(
            (activity, pairs)
            for activity, pairs in activity_bindings(
                activity_ids=ActivityBinding.objects.filter(entity_type_id=2).values("activity_id")
            ).items()
            if len(pairs) == 2
        )
        activity_id, pairs = bound_twice
        client_type, client_id = next(pair for pair in pairs if pair[0] in (3, 4))
        assert activity_id in set(
            activities_bound_to(entity_type_id=client_type, entity_ids=[client_id]).values_list(
                "id", flat=True
            )
        )
        deal_id = DealProductRow.objects.values_list("deal_id", flat=True).first()
        assert deal_product_rows(deal_ids=[deal_id]).exists()

    other_company = 1 if (client_type, client_id) != (4, 1) else 2
    sandbox.hook(
        "crm.activity.binding.add",
        {"activityId": activity_id, "entityTypeId": 4, "entityId": other_company},
    )
    sandbox.hook(
        "crm.deal.productrows.set",
        {
            "id": deal_id,
            "rows": [
                {"PRODUCT_ID": 3, "PRODUCT_NAME": "Row one", "PRICE": 1200, "QUANTITY": 2},
                {"PRODUCT_ID": 4, "PRODUCT_NAME": "Row two", "PRICE": 99.5, "QUANTITY": 1},
            ],
        },
    )

    def changed():
        with in_portal(portal):
            names = set(
                deal_product_rows(deal_ids=[deal_id]).values_list("product_name", flat=True)
            )
            return names == {"Row one", "Row two"} and (4, other_company) in activity_bindings(
                activity_ids=[activity_id]
            ).get(activity_id, [])

    wait_until(changed, timeout=20, what="the events to bring the new rows and binding")

    sandbox.hook(
        "crm.activity.binding.delete",
        {"activityId": activity_id, "entityTypeId": 4, "entityId": other_company},
    )
    sandbox.hook("crm.deal.productrows.set", {"id": deal_id, "rows": []})

    def emptied():
        with in_portal(portal):
            return not deal_product_rows(deal_ids=[deal_id]).exists() and activity_bindings(
                activity_ids=[activity_id]
            )[activity_id] == sorted(pairs)

    wait_until(emptied, timeout=20, what="the events to remove the rows and binding")

    sandbox.hook("crm.activity.delete", {"id": activity_id})
    sandbox.hook("crm.deal.delete", {"id": deal_id})

    def gone():
        with in_portal(portal):
            return not (
                ActivityBinding.objects.filter(activity_id=activity_id).exists()
                or DealProductRow.objects.filter(deal_id=deal_id).exists()
            )

    wait_until(gone, timeout=20, what="the bindings and rows to go with their record")
    assert differences(portal, sandbox, [BY_KEY["deal"], BY_KEY["activity"]], details=True) == []


def _detail_reads() -> list[str]:
    """Every detail command sent so far, by key (`deal_product_row_17`, `activity_binding_9`)."""
    keys: list[str] = []
    answered = RestCallLog.objects.filter(method="batch", http_status=200, error_code="")
    for request in answered.values_list("request", flat=True):
        keys.extend(
            key for key in (request.get("cmd") or {}) if key.startswith(("deal_product_row_",
                                                                         "activity_binding_"))
        )  # fmt: skip
    return keys


@pytest.mark.django_db(transaction=True)
def test_the_first_sync_reads_no_details_and_the_backfill_resumes_without_rereads(synced_sandbox):
    sandbox, portal = synced_sandbox()

    with in_portal(portal):
        # The full sync asked for no detail: each activity has its owner as its binding, deals
        # have no product rows yet.
        assert _detail_reads() == []
        assert not DealProductRow.objects.exists()
        assert ActivityBinding.objects.count() == Activity.objects.filter(owner_id__gt=0).count()
        deals = list(Deal.objects.order_by("id").values_list("id", flat=True))
        others = list(
            Activity.objects.exclude(owner_type_id__in=(3, 4))
            .order_by("id")
            .values_list("id", flat=True)
        )
        assert deals and others

        # Stopped after 3 requests of 10 records (a worker killed between batches, or a job's
        # request budget used up), then again after 2 requests on a new client, then to the end.
        # Live work first: while an event flush waits, the backfill sends nothing.
        held = details_backfill(BitrixClient.for_portal(portal), should_yield=lambda: True)
        assert (held.requests, held.records, held.done) == (0, 0, False)
        first = details_backfill(BitrixClient.for_portal(portal), max_requests=3, per_request=10)
        assert (first.requests, first.records, first.done) == (3, 30, False)
        assert SyncState.objects.get(entity="deal").details_after_id == deals[29]
        second = details_backfill(BitrixClient.for_portal(portal), max_requests=2, per_request=10)
        assert (second.requests, second.records) == (2, 20)
        last = details_backfill(BitrixClient.for_portal(portal), per_request=10)
        assert last.done

        reads = _detail_reads()
        assert len(reads) == len(set(reads)), "a record's details were read twice"
        assert sorted(reads) == sorted(
            [f"deal_product_row_{i}" for i in deals] + [f"activity_binding_{i}" for i in others]
        )
        assert first.records + second.records + last.records == len(deals) + len(others)
        # Nothing is left: another run sends no request.
        assert details_backfill(BitrixClient.for_portal(portal)).requests == 0

    assert differences(portal, sandbox, [BY_KEY["deal"], BY_KEY["activity"]], details=True) == []
