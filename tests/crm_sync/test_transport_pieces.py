import time
from urllib.parse import parse_qsl

from crm_sync.bitrix.limiter import RequestBucket
from crm_sync.bitrix.tokens import token_url
from crm_sync.bitrix.transport import query_encode


def test_query_encode_writes_php_style_nested_parameters():
    encoded = query_encode(
        {"filter": {">ID": 5, "@TYPE_ID": [2, 4]}, "select": ["ID", "UF_*"], "start": -1}
    )

    assert parse_qsl(encoded) == [
        ("filter[>ID]", "5"),
        ("filter[@TYPE_ID][0]", "2"),
        ("filter[@TYPE_ID][1]", "4"),
        ("select[0]", "ID"),
        ("select[1]", "UF_*"),
        ("start", "-1"),
    ]


def test_query_encode_keeps_batch_references_decodable():
    encoded = query_encode({"filter": {">ID": "$result[p0][49][ID]"}})
    assert parse_qsl(encoded) == [("filter[>ID]", "$result[p0][49][ID]")]


def test_token_url_is_derived_from_the_portals_server_endpoint():
    assert token_url("https://oauth.bitrix.info/rest/") == "https://oauth.bitrix.info/oauth/token/"
    assert token_url("http://127.0.0.1:9100/rest/") == "http://127.0.0.1:9100/oauth/token/"


def test_the_request_bucket_allows_the_burst_then_the_drain_rate(db):
    bucket = RequestBucket(portal_id=10_000_000 + int(time.time() * 1000) % 1000, plan="standard")
    burst, rate = bucket.burst_and_rate

    waits = [bucket.try_acquire() for _ in range(burst)]
    assert waits == [0.0] * burst
    wait = bucket.try_acquire()
    assert 0 < wait <= 1 / rate + 0.05

    bucket.saturate()
    assert bucket.try_acquire() > 0
