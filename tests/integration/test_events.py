"""Events under a burst: one paced flusher per portal re-reads them, and no id is left behind."""

import itertools
import time
from datetime import timedelta

import pytest

from crm_sync.services import (
    DETAILS_MAX_WAIT_SECONDS,
    FLUSH_ROUND_SECONDS,
    _details_key,
    _details_since,
    _flush_flag,
    _flush_round,
    _pending_key,
)
from crm_sync.sync.entities import BY_KEY
from tenants.locks import redis_client
from tests.conftest import in_portal, wait_until
from tests.integration.mirror import patient_call


def _flush_requests(since):
    """(start, end) of each batch request Keepwarm sent since `since`, oldest first."""
    from crm_sync.models import RestCallLog

    rows = RestCallLog.objects.filter(method="batch", created_at__gte=since).order_by("created_at")
    return [
        (row.created_at - timedelta(milliseconds=row.duration_ms), row.created_at) for row in rows
    ]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_events_reaches_the_mirror_through_one_paced_flusher(synced_sandbox):
    from django.utils import timezone

    from crm_sync.models import Company, Contact

    sandbox, portal = synced_sandbox()
    with in_portal(portal):
        contact_ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[:150])
        company_ids = list(Company.objects.order_by("pk").values_list("pk", flat=True)[:2])
    since = timezone.now()

    # Three batch requests back to back: the sandbox then POSTs one event per change, one at a
    # time, while the first flushes of the burst are already running.
    for start in range(0, len(contact_ids), 50):
        patient_call(
            sandbox,
            "batch",
            {
                "halt": 0,
                "cmd": {
                    f"u{pk}": f"crm.contact.update?id={pk}&fields[LAST_NAME]=Burst{pk}"
                    for pk in contact_ids[start : start + 50]
                },
            },
        )
    for pk in company_ids:
        patient_call(sandbox, "crm.company.delete", {"id": pk})

    def arrived():
        with in_portal(portal):
            renamed = Contact.objects.filter(pk__in=contact_ids, last_name__startswith="Burst")
            return (
                renamed.count() == len(contact_ids)
                and not Company.objects.filter(pk__in=company_ids).exists()
            )

    # No sweep runs here: only the events' flushes can bring every change in.
    wait_until(arrived, timeout=90, what="every change of the burst to reach the mirror")
    redis = redis_client()
    wait_until(
        lambda: not redis.exists(_flush_flag(portal.pk)),
        timeout=30,
        what="the flusher to give its flag up",
    )
    assert all(not redis.exists(_pending_key(portal.pk, key)) for key in BY_KEY)
    with in_portal(portal):
        renamed = Contact.objects.filter(pk__in=contact_ids, last_name__startswith="Burst")
        assert renamed.count() == len(contact_ids)
        requests = _flush_requests(since)
    assert requests
    # One flusher at a time: no two re-reads overlap, and rounds start at least a round apart
    # (less a little for the clock readings), however the events were spread.
    for (previous_start, previous_end), (start, _) in itertools.pairwise(requests):
        assert start >= previous_end
        assert start - previous_start >= timedelta(seconds=FLUSH_ROUND_SECONDS - 0.05)


@pytest.mark.django_db(transaction=True)
def test_records_go_before_their_detail_reads_which_wait_only_so_long(synced_sandbox):
    from crm_sync.bitrix.client import BitrixClient
    from crm_sync.models import Contact, Deal, DealProductRow

    sandbox, portal = synced_sandbox()
    redis = redis_client()
    contacts, deals = _pending_key(portal.pk, "contact"), _pending_key(portal.pk, "deal")
    details = _details_key(portal.pk, "deal")
    totals = {"written": 0, "deleted": 0, "detail_rows": 0, "requests": 0}
    try:
        with in_portal(portal):
            contact_id = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
            deal_ids = set(Deal.objects.order_by("pk").values_list("pk", flat=True)[:2])
            DealProductRow.objects.filter(deal_id__in=deal_ids).delete()
            client = BitrixClient.for_portal(portal)

            redis.sadd(contacts, contact_id)
            redis.sadd(deals, *deal_ids)
            assert _flush_round(redis, client, portal.pk, totals)
            # The records only; the deals' product rows are queued for a later round.
            assert totals["written"] == 3 and totals["detail_rows"] == 0
            assert {int(i) for i in redis.smembers(details)} == deal_ids

            redis.sadd(contacts, contact_id)
            assert _flush_round(redis, client, portal.pk, totals)
            assert totals["written"] == 4 and redis.scard(details) == 2  # records first

            redis.set(_details_since(portal.pk), str(time.time() - DETAILS_MAX_WAIT_SECONDS))
            redis.sadd(contacts, contact_id)
            assert _flush_round(redis, client, portal.pk, totals)
            # Waited long enough: the details went ahead of the record now pending.
            assert not redis.exists(details)
            assert redis.sismember(contacts, contact_id)
            rows = DealProductRow.objects.filter(deal_id__in=deal_ids).count()
            assert totals["detail_rows"] == rows
            assert rows == sum(
                len(patient_call(sandbox, "crm.deal.productrows.get", {"id": pk})["result"])
                for pk in deal_ids
            )
    finally:
        redis.delete(contacts, deals, details, _details_since(portal.pk))
