from datetime import timedelta

from django.utils import timezone

from crm_sync.models import RestCallLog
from crm_sync.services import rest_log_purge
from tests.conftest import in_portal


def test_purge_keeps_the_retention_window(portal_factory, settings):
    settings.KEEPWARM_REST_LOG_RETENTION_DAYS = 3
    now = timezone.now()
    with in_portal(portal_factory()):
        RestCallLog.objects.create(method="a", created_at=now - timedelta(days=3, minutes=1))
        RestCallLog.objects.create(method="b", created_at=now - timedelta(days=2, hours=23))

        assert rest_log_purge(now=now) == 1
        assert list(RestCallLog.objects.values_list("method", flat=True)) == ["b"]


def test_the_rest_log_api_filters_errors(client, portal_factory, bearer):
    portal = portal_factory()
    with in_portal(portal):
        RestCallLog.objects.create(method="crm.contact.list", http_status=200)
        RestCallLog.objects.create(
            method="crm.deal.list", http_status=503, error_code="QUERY_LIMIT_EXCEEDED"
        )

    response = client.get("/api/v1/sync/rest-calls/?has_error=true", **bearer(portal))

    assert response.status_code == 200
    body = response.json()
    assert [row["method"] for row in body["results"]] == ["crm.deal.list"]
    assert body["results"][0]["error_code"] == "QUERY_LIMIT_EXCEEDED"


def test_the_rest_log_api_rejects_a_malformed_filter(client, portal_factory, bearer):
    portal = portal_factory()

    response = client.get("/api/v1/sync/rest-calls/?since=yesterday", **bearer(portal))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert "since" in response.json()["fields"]
