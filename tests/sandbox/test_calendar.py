"""The sandbox's calendar: calendar.accessibility.get over absence-chart entries and meetings."""

from datetime import UTC, datetime

from tests.sandbox.conftest import install_app


def test_accessibility_lists_each_users_entries_in_the_window(fresh_sandbox):
    portal = fresh_sandbox(scale="10", seed=2)
    leave = portal.tool("calendar", {"user_id": 4, "from": "2031-03-02", "to": "2031-03-06"})
    meeting = portal.tool(
        "calendar",
        {
            "user_id": 4,
            "from": "2031-03-10T11:00:00+03:00",
            "to": "2031-03-10T12:30:00+03:00",
            "accessibility": "busy",
        },
    )
    portal.tool("calendar", {"user_id": 5, "from": "2031-05-01", "to": "2031-05-02"})

    body = portal.hook(
        "calendar.accessibility.get", {"users": [4, 5, 6], "from": "2031-03-01", "to": "2031-03-31"}
    ).json()

    assert set(body["result"]) == {"4", "5", "6"}
    assert body["result"]["5"] == [] and body["result"]["6"] == []
    by_id = {int(event["ID"]): event for event in body["result"]["4"]}
    assert set(by_id) == {leave["ID"], meeting["ID"]}
    absent = by_id[leave["ID"]]
    assert absent["ACCESSIBILITY"] == "absent" and absent["DT_SKIP_TIME"] == "Y"
    assert (absent["DATE_FROM"], absent["DATE_TO"]) == ("02.03.2031", "06.03.2031")
    busy = by_id[meeting["ID"]]
    assert busy["ACCESSIBILITY"] == "busy" and busy["DT_SKIP_TIME"] == "N"
    assert (busy["DATE_FROM"], busy["DATE_TO"]) == ("10.03.2031 11:00:00", "10.03.2031 12:30:00")
    assert datetime.fromtimestamp(int(busy["DATE_FROM_TS_UTC"]), UTC) == datetime(
        2031, 3, 10, 8, 0, tzinfo=UTC
    )
    # The window is whole days: an entry ending before it starts is not listed.
    later = portal.hook(
        "calendar.accessibility.get", {"users": [4], "from": "2031-03-07", "to": "2031-03-09"}
    ).json()
    assert later["result"] == {"4": []}


def test_accessibility_requires_from_to_and_users_and_the_calendar_scope(fresh_sandbox, receiver):
    portal = fresh_sandbox(scale="10", seed=2)
    for missing in ("from", "to", "users"):
        params = {"users": [4], "from": "2031-03-01", "to": "2031-03-31"}
        del params[missing]
        answer = portal.hook("calendar.accessibility.get", params)
        assert answer.status_code == 400
        assert answer.json()["error"] == ""
        assert f'"{missing}"' in answer.json()["error_description"]

    without = install_app(portal, receiver, scope="crm,user_brief", client_id="app.nocal")
    with portal.client() as http:
        denied = http.post(
            "/rest/calendar.accessibility.get.json",
            json={
                "auth": without["AUTH_ID"],
                "users": [4],
                "from": "2031-03-01",
                "to": "2031-03-02",
            },
        )
    assert (denied.status_code, denied.json()["error"]) == (403, "insufficient_scope")
