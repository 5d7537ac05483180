"""Independent clients work against the sandbox unchanged: the official b24pysdk (over HTTPS)
and the community fast-bitrix24 (get_all over a webhook)."""

import pytest


def _webhook_token(portal) -> str:
    return portal.webhook.split("/rest/", 1)[1].strip("/")


def test_official_sdk_reads_every_contact_over_https_and_batches(fresh_sandbox, monkeypatch):
    from b24pysdk import BitrixWebhook, Client

    portal = fresh_sandbox(https=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", portal.ca)  # trust the sandbox's local CA
    client = Client(
        BitrixWebhook(domain=f"127.0.0.1:{portal.port}", webhook_token=_webhook_token(portal))
    )
    expected = portal.hook("crm.contact.list", {"select": ["ID"]}).json()["total"]

    fast = [
        row["ID"] for row in client.crm.contact.list(select=["ID"]).as_list_fast().response.result
    ]
    paged = [row["ID"] for row in client.crm.contact.list(select=["ID"]).as_list().response.result]
    batch = client.call_batch(
        {
            "contacts": client.crm.contact.list(select=["ID"]),
            "deals": client.crm.deal.list(select=["ID"]),
        }
    ).response.result

    assert len(fast) == len(set(fast)) == expected
    assert sorted(paged, key=int) == sorted(fast, key=int)
    assert len(batch.result["contacts"]) == 50 and len(batch.result["deals"]) == 50
    assert batch.result_total["contacts"] == expected


@pytest.mark.parametrize(
    "method", ["crm.contact.list", "crm.company.list", "crm.deal.list", "crm.activity.list"]
)
def test_fast_bitrix24_get_all_reads_every_record(sandbox, method):
    from fast_bitrix24 import Bitrix

    expected = sandbox.hook(method, {"select": ["ID"]}).json()["total"]
    rows = Bitrix(sandbox.webhook, verbose=False).get_all(method, {"select": ["ID"]})

    ids = [row["ID"] for row in rows]
    assert len(ids) == len(set(ids)) == expected


def test_fast_bitrix24_survives_the_rate_limit_like_on_a_real_portal(fresh_sandbox):
    from fast_bitrix24 import Bitrix

    portal = fresh_sandbox()
    expected = portal.hook("crm.activity.list", {"select": ["ID"]}).json()["total"]
    with portal.client() as http:  # another client drained the shared bucket first
        for _ in range(55):
            http.get(f"{portal.webhook}scope.json")

    rows = Bitrix(portal.webhook, verbose=False).get_all("crm.activity.list", {"select": ["ID"]})

    assert len({row["ID"] for row in rows}) == expected
    assert portal.tool("stats")["rate_limited"] > 0
