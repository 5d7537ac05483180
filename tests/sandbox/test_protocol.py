"""The sandbox portal speaks Bitrix24's REST protocol (plain HTTP clients, no Keepwarm code)."""

import time

import httpx
import pytest

from tests.sandbox.conftest import install_app


def test_success_envelope_has_result_total_next_and_time(sandbox):
    body = sandbox.hook("crm.contact.list", {"select": ["ID"]}).json()

    assert len(body["result"]) == 50
    assert body["total"] > 50 and body["next"] == 50
    assert set(body["time"]) >= {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
        "operating_reset_at",
    }


def test_form_encoded_get_with_bracket_keys(sandbox):
    with sandbox.client() as http:
        body = http.get(
            f"{sandbox.webhook}crm.contact.list",
            params={"select[]": "ID", "filter[>ID]": "10", "order[ID]": "ASC", "start": "-1"},
        ).json()

    assert body["result"][0] == {"ID": "11"}
    assert body["total"] == 0 and "next" not in body  # start=-1 skips counting


def test_paging_walks_every_record_once(sandbox):
    seen, start = [], 0
    while start is not None:
        body = sandbox.hook("crm.company.list", {"select": ["ID"], "start": start}).json()
        seen += [row["ID"] for row in body["result"]]
        start = body.get("next")

    assert len(seen) == len(set(seen)) == body["total"]


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        ({"=ID": 5}, lambda rows: [r["ID"] for r in rows] == ["5"]),
        ({">=ID": 170, "<ID": 173}, lambda rows: [r["ID"] for r in rows] == ["170", "171", "172"]),
        ({"@ID": [3, 7]}, lambda rows: [r["ID"] for r in rows] == ["3", "7"]),
        ({"!@ID": list(range(1, 180))}, lambda rows: [r["ID"] for r in rows] == ["180"]),
        ({"%LAST_NAME": "мирн"}, lambda rows: rows and all("мирн" in r["LAST_NAME"] for r in rows)),
        (
            {"UF_CRM_BRANCH": "2"},
            lambda rows: rows and all(r["UF_CRM_BRANCH"] == "2" for r in rows),
        ),
        (
            {"!UF_CRM_BRANCH": "2"},
            lambda rows: rows and all(r["UF_CRM_BRANCH"] != "2" for r in rows),
        ),
    ],
)
def test_filter_operators(sandbox, flt, check):
    body = sandbox.hook(
        "crm.contact.list", {"select": ["ID", "LAST_NAME", "UF_*"], "filter": flt}
    ).json()

    assert check(body["result"]), body["result"][:3]


def test_select_star_leaves_out_user_and_multi_fields(sandbox):
    star = sandbox.hook("crm.contact.list", {"select": ["*"], "filter": {"ID": 1}}).json()[
        "result"
    ][0]
    uf = sandbox.hook("crm.contact.list", {"select": ["UF_*"], "filter": {"ID": 1}}).json()[
        "result"
    ][0]

    assert "NAME" in star and "PHONE" not in star and not any(k.startswith("UF_") for k in star)
    assert set(uf) == {"UF_CRM_BRANCH", "UF_CRM_CHANNEL"}


@pytest.mark.parametrize(
    ("method", "payload", "status", "code"),
    [
        ("crm.nothing.here", {}, 404, "ERROR_METHOD_NOT_FOUND"),
        ("crm.contact.get", {"id": 999999}, 400, ""),
        ("crm.item.get", {"entityTypeId": 31, "id": 999999}, 400, "NOT_FOUND"),
        ("crm.item.list", {"entityTypeId": 5}, 400, "ENTITY_TYPE_NOT_SUPPORTED"),
        ("tasks.task.add", {"fields": {"RESPONSIBLE_ID": 1}}, 400, "ERROR_CORE"),
        ("log.blogpost.add", {"POST_TITLE": "No text", "DEST": ["U2"]}, 400, ""),
    ],
)
def test_error_envelope_and_statuses(sandbox, method, payload, status, code):
    response = sandbox.hook(method, payload)

    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["error_description"]


def test_bad_webhook_code_is_no_auth_found(sandbox):
    with sandbox.client() as http:
        response = http.post("/rest/1/wrongcode/crm.contact.list.json", json={})
    assert (response.status_code, response.json()["error"]) == (401, "NO_AUTH_FOUND")


def test_batch_with_references_and_nested_result_shape(sandbox):
    body = sandbox.hook(
        "batch",
        {
            "halt": 0,
            "cmd": {
                "first": "crm.contact.list?select[0]=ID&order[ID]=ASC&start=-1",
                "next": "crm.contact.list?select[0]=ID&order[ID]=ASC&start=-1"
                "&filter[>ID]=$result[first][49][ID]",
                "company": "crm.company.get?id=$result[first][0][ID]",
                "broken": "crm.no.method",
            },
        },
    ).json()["result"]

    assert body["result"]["next"][0]["ID"] == "51"
    assert body["result"]["company"]["ID"] == "1"
    assert body["result_error"]["broken"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert set(body["result_time"]) == {"first", "next", "company"}


def test_batch_halt_stops_at_the_first_error_and_limits_50_commands(sandbox):
    halted = sandbox.hook(
        "batch", {"halt": 1, "cmd": {"a": "crm.no.method", "b": "crm.contact.list?select[0]=ID"}}
    ).json()["result"]
    too_long = sandbox.hook("batch", {"cmd": {str(i): "scope" for i in range(51)}})

    assert halted["result"] == [] and "a" in halted["result_error"]
    assert (too_long.status_code, too_long.json()["error"]) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")


def test_leaky_bucket_answers_503_after_the_burst_and_recovers(fresh_sandbox):
    portal = fresh_sandbox()
    with portal.client() as http:
        answers = [http.get(f"{portal.webhook}scope.json") for _ in range(56)]
        assert [answer.status_code for answer in answers[:50]] == [200] * 50
        # On a slow machine the bucket leaks a slot meanwhile, so look at the first refusal.
        limited = next(answer for answer in answers[50:] if answer.status_code == 503)
        assert limited.json()["error"] == "QUERY_LIMIT_EXCEEDED"
        time.sleep(1.2)  # drains 2 requests per second on the standard plan
        assert http.get(f"{portal.webhook}scope.json").status_code == 200


def test_a_batch_counts_as_one_request(fresh_sandbox):
    portal = fresh_sandbox()
    with portal.client() as http:
        commands = {str(i): "crm.contact.list?select[0]=ID&start=-1" for i in range(50)}
        statuses = [
            http.post(f"{portal.webhook}batch.json", json={"cmd": commands}).status_code
            for _ in range(50)
        ]
    assert statuses == [200] * 50  # 2,500 list calls inside the 50-request burst


def test_operating_time_blocks_only_the_method_that_used_it(fresh_sandbox):
    portal = fresh_sandbox(extra=["--operating-limit", "0.01"])
    codes = []
    for _ in range(8):
        response = portal.hook("crm.deal.list", {"select": ["ID"], "start": 400})
        codes.append(response.status_code)
        if response.status_code == 429:
            blocked = response.json()
            break
    other = portal.hook("crm.contact.list", {"select": ["ID"]})

    assert 429 in codes
    assert (
        blocked["error"] == "OPERATION_TIME_LIMIT" and blocked["operating_reset_at"] > time.time()
    )
    assert other.status_code == 200


def test_oauth_install_refresh_rotation_and_expiry(fresh_sandbox, receiver):
    portal = fresh_sandbox()
    app = install_app(portal, receiver)
    assert (
        app["member_id"] and app["APPLICATION_TOKEN"] and app["SERVER_ENDPOINT"].endswith("/rest/")
    )

    with portal.client() as http:
        ok = http.post(
            "/rest/crm.contact.list.json", json={"auth": app["AUTH_ID"], "select": ["ID"]}
        )
        assert ok.status_code == 200

        refreshed = http.get(
            "/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": "app.test",
                "client_secret": "secret-1",
                "refresh_token": app["REFRESH_ID"],
            },
        ).json()
        assert refreshed["refresh_token"] != app["REFRESH_ID"] and refreshed["expires_in"] == 3600
        assert refreshed["member_id"] == app["member_id"]
        reused = http.get(
            "/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": "app.test",
                "client_secret": "secret-1",
                "refresh_token": app["REFRESH_ID"],
            },
        )
        assert reused.json()["error"] == "invalid_grant"  # a spent refresh token is dead

        portal.tool("clock", {"advance_seconds": 3601})
        stale = http.post("/rest/scope.json", json={"auth": refreshed["access_token"]})
        assert (stale.status_code, stale.json()["error"]) == (401, "expired_token")
        garbage = http.post("/rest/scope.json", json={"auth": "not-a-token"})
        assert (garbage.status_code, garbage.json()["error"]) == (401, "invalid_token")


def test_scopes_are_enforced_separately_from_user_permissions(fresh_sandbox, receiver):
    portal = fresh_sandbox()
    crm_only = install_app(portal, receiver, scope="crm", client_id="app.crm")
    with portal.client() as http:
        denied = http.post("/rest/user.get.json", json={"auth": crm_only["AUTH_ID"]})
        assert (denied.status_code, denied.json()["error"]) == (403, "insufficient_scope")
        feed = http.post(
            "/rest/log.blogpost.add.json",
            json={"auth": crm_only["AUTH_ID"], "POST_MESSAGE": "hello", "DEST": ["U2"]},
        )
        assert (feed.status_code, feed.json()["error"]) == (403, "insufficient_scope")

    manager = install_app(portal, receiver, client_id="app.manager", user_id=4)
    with portal.client() as http:
        mine = http.post(
            "/rest/crm.contact.list.json",
            json={"auth": manager["AUTH_ID"], "select": ["ID", "ASSIGNED_BY_ID"]},
        ).json()
    everyone = portal.hook("crm.contact.list", {"select": ["ID"]}).json()
    assert {row["ASSIGNED_BY_ID"] for row in mine["result"]} <= {"4"}
    assert mine["total"] < everyone["total"]  # records the user may not read are left out


def test_events_only_after_install_finish_once_and_without_tokens_on_uninstall(
    fresh_sandbox, receiver
):
    portal = fresh_sandbox()
    app = install_app(portal, receiver, finish=False)
    with portal.client() as http:
        bind = http.post(
            "/rest/event.bind.json",
            json={
                "auth": app["AUTH_ID"],
                "event": "ONCRMCONTACTUPDATE",
                "handler": f"{receiver.url}/events",
            },
        )
        assert bind.json()["result"] is True
        http.post(
            "/rest/event.bind.json",
            json={
                "auth": app["AUTH_ID"],
                "event": "ONAPPUNINSTALL",
                "handler": f"{receiver.url}/events",
            },
        )
    portal.hook("crm.contact.update", {"id": 3, "fields": {"NAME": "Before finish"}})
    time.sleep(0.5)
    assert receiver.events() == []

    portal.tool("install-finish", {"auth": app["AUTH_ID"]})
    portal.hook("crm.contact.update", {"id": 3, "fields": {"NAME": "After finish"}})
    _wait(lambda: receiver.events("ONCRMCONTACTUPDATE"))
    [event] = receiver.events("ONCRMCONTACTUPDATE")
    assert event["data[FIELDS][ID]"] == "3"
    assert event["auth[application_token]"] == app["APPLICATION_TOKEN"]
    assert event["auth[member_id]"] == app["member_id"] and event["auth[access_token]"]

    portal.tool("apps/app.test/uninstall", {"clean": True})
    _wait(lambda: receiver.events("ONAPPUNINSTALL"))
    [uninstall] = receiver.events("ONAPPUNINSTALL")
    assert "auth[access_token]" not in uninstall and uninstall["auth[application_token]"]
    with portal.client() as http:
        revoked = http.post("/rest/scope.json", json={"auth": app["AUTH_ID"]})
    assert revoked.status_code == 401


def test_event_loss_and_duplication_knobs(fresh_sandbox, receiver):
    portal = fresh_sandbox()
    app = install_app(portal, receiver)
    with portal.client() as http:
        http.post(
            "/rest/event.bind.json",
            json={
                "auth": app["AUTH_ID"],
                "event": "ONCRMDEALUPDATE",
                "handler": f"{receiver.url}/events",
            },
        )
    portal.tool("config", {"event_loss": 0.5, "event_dup": 0.3, "seed": 7})
    for deal_id in range(1, 41):
        portal.hook("crm.deal.update", {"id": deal_id, "fields": {"TITLE": f"t{deal_id}"}})
    time.sleep(1.5)
    stats = portal.tool("stats")

    delivered = receiver.events("ONCRMDEALUPDATE")
    assert 0 < stats["events_dropped"] < 40 and stats["events_duplicated"] > 0
    assert len(delivered) == 40 - stats["events_dropped"] + stats["events_duplicated"]


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail("timed out")


def test_notifications_with_the_same_tag_replace_each_other(sandbox):
    first = sandbox.hook(
        "im.notify.system.add", {"USER_ID": 2, "MESSAGE": "one", "TAG": "t1"}
    ).json()
    second = sandbox.hook(
        "im.notify.system.add", {"USER_ID": 2, "MESSAGE": "two", "TAG": "t1"}
    ).json()
    tagged = [n for n in sandbox.tool("notifications") if n["tag"] == "t1"]

    assert first["result"] == second["result"]
    assert [n["message"] for n in tagged] == ["two"]


def test_activity_stream_posts_reach_only_their_addressees(sandbox):
    added = sandbox.hook(
        "log.blogpost.add",
        {"POST_TITLE": "Soon (KW-1)", "POST_MESSAGE": "three clients", "DEST": ["U3"]},
    ).json()
    with sandbox.client() as http:  # a form post, the way a batch command carries arrays
        form = http.post(
            f"{sandbox.webhook}log.blogpost.add.json",
            data={"POST_MESSAGE": "for four", "DEST[0]": "U4"},
        ).json()
    for_three = sandbox.hook("log.blogpost.get", {"LOG_RIGHTS": ["U3"]}).json()["result"]
    stored = {int(row["ID"]): row for row in sandbox.tool("records/blogpost")}

    assert isinstance(added["result"], int) and isinstance(form["result"], int)
    assert [row["ID"] for row in for_three if row["TITLE"] == "Soon (KW-1)"] == [
        str(added["result"])
    ]
    assert all(row["ID"] != str(form["result"]) for row in for_three)
    assert stored[added["result"]]["DEST"] == ["U3"]
    assert stored[form["result"]]["DEST"] == ["U4"]
    assert stored[added["result"]]["DETAIL_TEXT"] == "three clients"


def test_an_unknown_client_gets_plain_json_errors_not_html(sandbox):
    with httpx.Client(base_url=sandbox.base) as http:
        response = http.post(
            "/rest/batch.json", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400 and response.json()["error"] == "INVALID_REQUEST"


def test_an_admin_dismisses_an_employee_with_user_update(fresh_sandbox, receiver):
    portal = fresh_sandbox(scale="10", seed=2)
    manager = install_app(portal, receiver, client_id="app.manager", user_id=4)
    with portal.client() as http:
        refused = http.post(
            "/rest/user.update.json", json={"auth": manager["AUTH_ID"], "ID": 5, "ACTIVE": "N"}
        )
    assert (refused.status_code, refused.json()["error"]) == (403, "ACCESS_DENIED")

    assert portal.hook("user.update", {"ID": 5, "ACTIVE": "N"}).json()["result"] is True

    [dismissed] = portal.hook("user.get", {"ID": 5}).json()["result"]
    active = portal.hook("user.get", {"FILTER": {"ACTIVE": True}}).json()["result"]
    assert dismissed["ACTIVE"] is False
    assert "5" not in {user["ID"] for user in active} and len(active) == 11
    missing = portal.hook("user.update", {"ID": 999, "ACTIVE": "N"})
    assert (missing.status_code, missing.json()["error"]) == (400, "NOT_FOUND")
