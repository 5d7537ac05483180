from datetime import timedelta

from django.utils import timezone

from analytics.selectors import rest_usage
from crm_sync.models import RestCallLog
from tests.conftest import in_portal


def _log(method, *, error="", age=timedelta(0)):
    RestCallLog.objects.create(method=method, error_code=error, created_at=timezone.now() - age)


def test_rest_usage_counts_calls_and_errors_per_method_in_the_window(portal_factory):
    with in_portal(portal_factory()):
        _log("batch")
        _log("batch")
        _log("batch", error="QUERY_LIMIT_EXCEEDED")
        _log("crm.contact.list")
        _log("crm.contact.list", age=timedelta(days=8))  # outside a 7-day window

        usage = rest_usage(days=7)

    assert usage.total_calls == 4
    assert [(m.method, m.calls, m.errors) for m in usage.methods] == [
        ("batch", 3, 1),
        ("crm.contact.list", 1, 0),
    ]


def test_rest_usage_api_validates_its_query(client, portal_factory, bearer):
    portal = portal_factory()
    headers = bearer(portal)

    ok = client.get("/api/v1/analytics/rest-usage/?days=30", **headers)
    bad = client.get("/api/v1/analytics/rest-usage/?days=1000", **headers)

    assert ok.status_code == 200
    assert ok.json()["total_calls"] == 0
    assert bad.status_code == 400
    assert "days" in bad.json()["fields"]
