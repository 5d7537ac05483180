"""Employees' calendars: `calendar.accessibility.get` and the absence chart behind it.

Bitrix24 shows an absence-chart entry (leave, sick day, business trip) in the employee's
accessibility as `absent`; meetings show as `busy`. The sandbox keeps both as `calendar_event`
records; the `/sandbox/calendar` tool adds one (what a manager or HR does in the portal's UI).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sandbox.portal import protocol as p
from sandbox.portal.methods import Answer, method
from sandbox.portal.query import PORTAL_TZ

ENTITY = "calendar_event"
ACCESSIBILITY = ("busy", "absent", "quest", "free")
_METHOD = "calendar.accessibility.get"


def _required(name: str) -> p.RestError:
    return p.RestError(
        400, "", f'The required parameter "{name}" for the method "{_METHOD}" is not set'
    )


def _moment(text: str, *, end: bool) -> datetime:
    """An ISO date (the whole day: its start, or the next day's start for an end) or datetime."""
    text = str(text).strip()
    if len(text) == 10:
        day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
        return datetime.combine(day, time(), PORTAL_TZ)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=PORTAL_TZ)


def entry_add(portal, params: dict) -> dict:
    """Add a calendar entry for a user: `user_id`, `from`, `to` (ISO dates for whole days, as the
    absence chart makes them, or datetimes), `accessibility` (default `absent`), `name`."""
    user_id = int(params.get("user_id") or 0)
    if portal.user(user_id) is None:
        raise p.not_found(f"User with ID {user_id} not found")
    accessibility = str(params.get("accessibility") or "absent")
    if accessibility not in ACCESSIBILITY:
        raise p.bad_request(f"accessibility must be one of {', '.join(ACCESSIBILITY)}")
    raw_from, raw_to = str(params.get("from") or ""), str(params.get("to") or "")
    if not raw_from or not raw_to:
        raise p.bad_request("from and to are required")
    all_day = len(raw_from.strip()) == 10 and len(raw_to.strip()) == 10
    starts, ends = _moment(raw_from, end=False), _moment(raw_to, end=all_day)
    if ends <= starts:
        raise p.bad_request("an entry cannot end before it starts")
    event_id = portal.store.next_id(ENTITY)
    record = {
        "ID": event_id,
        "OWNER_ID": user_id,
        "NAME": str(params.get("name") or ("Отпуск" if accessibility == "absent" else "Встреча")),
        "STARTS": starts.astimezone(PORTAL_TZ).isoformat(),
        "ENDS": ends.astimezone(PORTAL_TZ).isoformat(),  # exclusive
        "ALL_DAY": all_day,
        "ACCESSIBILITY": accessibility,
        "IMPORTANCE": "normal",
    }
    portal.store.put(ENTITY, event_id, record)
    return record


def _shown(record: dict) -> dict:
    """A record as calendar.accessibility.get shows it: local dates as dd.mm.yyyy[ hh:mm:ss],
    whole days with an inclusive last date, and UTC timestamps as strings."""
    starts = datetime.fromisoformat(record["STARTS"])
    ends = datetime.fromisoformat(record["ENDS"])
    if record["ALL_DAY"]:
        date_from = starts.strftime("%d.%m.%Y")
        date_to = (ends - timedelta(days=1)).strftime("%d.%m.%Y")
        ts_to = ends - timedelta(days=1)
    else:
        date_from = starts.strftime("%d.%m.%Y %H:%M:%S")
        date_to = ends.strftime("%d.%m.%Y %H:%M:%S")
        ts_to = ends
    return {
        "ID": str(record["ID"]),
        "NAME": record["NAME"],
        "DATE_FROM": date_from,
        "DATE_TO": date_to,
        "DATE_FROM_TS_UTC": str(int(starts.timestamp())),
        "DATE_TO_TS_UTC": str(int(ts_to.timestamp())),
        "DT_SKIP_TIME": "Y" if record["ALL_DAY"] else "N",
        "ACCESSIBILITY": record["ACCESSIBILITY"],
        "IMPORTANCE": record["IMPORTANCE"],
    }


@method(_METHOD)
def accessibility_get(portal, caller, params):
    """Entries of each requested user that overlap the days `from`..`to` (both required),
    keyed by user id; a user with none gets an empty list."""
    for name in ("from", "to", "users"):
        if params.get(name) in (None, "", [], {}):
            raise _required(name)
    users = params["users"]
    if isinstance(users, dict):
        users = list(users.values())
    elif not isinstance(users, list):
        users = [users]
    try:
        user_ids = [int(user) for user in users]
        window_from = _moment(str(params["from"])[:10], end=False)
        window_to = _moment(str(params["to"])[:10], end=True)
    except ValueError as exc:
        raise p.RestError(400, "", str(exc)) from exc
    found: dict[str, list[dict]] = {str(user): [] for user in user_ids}
    if user_ids:
        marks = ",".join("?" for _ in user_ids)
        rows = portal.store.select(
            ENTITY,
            f"CAST(json_extract(data, '$.OWNER_ID') AS INTEGER) IN ({marks})",
            user_ids,
            limit=None,
        )
        for _, record in rows:
            starts = datetime.fromisoformat(record["STARTS"])
            ends = datetime.fromisoformat(record["ENDS"])
            if starts < window_to and ends > window_from:
                found[str(record["OWNER_ID"])].append(_shown(record))
    rows_out = sum(len(events) for events in found.values())
    return Answer(found, rows=rows_out)
