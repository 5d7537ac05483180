"""Managers' absences from the portal's absence chart, mirrored for the assistants.

Bitrix24 shows absence-chart entries (leave, sick days, business trips) in an employee's
calendar accessibility as `absent`; meetings are `busy` and are not absences. A periodic job
reads the accessibility of every active employee for a window around today (50 employees per
command, 50 commands per batch request: a portal of 2,500 employees costs one request) and
replaces the window's rows in one transaction, so an entry removed in Bitrix24 leaves the mirror
on the next refresh. A portal that did not grant the `calendar` scope is skipped, with the reason
as the job's outcome; Keepwarm's own list of absences works either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.bitrix.errors import BitrixAccessDenied
from crm_sync.models import User, UserAbsence
from tenants.selectors import portal_granted_scopes

logger = logging.getLogger(__name__)

METHOD = "calendar.accessibility.get"
SCOPE = "calendar"
USERS_PER_COMMAND = 50
DAYS_BEFORE = 1  # yesterday's entries still cover a pass that runs "as of" late yesterday
DAYS_AHEAD = 60


def _day(text: str) -> date:
    """`dd.mm.yyyy[ hh:mm:ss]` → the date."""
    return datetime.strptime(str(text).strip()[:10], "%d.%m.%Y").date()


def absence_row(user_id: int, entry: dict) -> dict | None:
    """One accessibility entry → a mirror row, or None when it is not an absence."""
    if str(entry.get("ACCESSIBILITY", "")).lower() != "absent":
        return None
    try:
        starts_on, ends_on = _day(entry["DATE_FROM"]), _day(entry["DATE_TO"])
        event_id = int(entry["ID"])
    except (KeyError, TypeError, ValueError):
        logger.warning("unreadable absence entry of user %s skipped", user_id)
        return None
    timed = str(entry.get("DT_SKIP_TIME", "N")).upper() != "Y"
    if timed and ends_on > starts_on and str(entry["DATE_TO"]).strip()[11:] in ("00:00:00", ""):
        ends_on -= timedelta(days=1)  # a timed entry ending at midnight leaves that day free
    return {
        "user_id": user_id,
        "event_id": event_id,
        "starts_on": starts_on,
        "ends_on": max(ends_on, starts_on),
    }


def absences_read(
    client: BitrixClient, user_ids: Iterable[int], *, day_from: date, day_to: date
) -> list[dict]:
    """The absences of these users overlapping day_from..day_to, as mirror rows."""
    ids = sorted(set(user_ids))
    window = {"from": day_from.isoformat(), "to": day_to.isoformat()}
    commands = {
        f"u{index}": (METHOD, {"users": ids[index : index + USERS_PER_COMMAND], **window})
        for index in range(0, len(ids), USERS_PER_COMMAND)
    }
    keys = list(commands)
    rows: dict[tuple[int, int], dict] = {}
    for start in range(0, len(keys), MAX_BATCH):
        answer = client.batch({key: commands[key] for key in keys[start : start + MAX_BATCH]})
        if answer.errors:  # e.g. insufficient_scope: the caller decides what that means
            raise next(iter(answer.errors.values()))
        for result in answer.results.values():
            entries_by_user = result if isinstance(result, dict) else {}
            for user_id, entries in entries_by_user.items():
                for entry in entries or []:
                    row = absence_row(int(user_id), entry) if isinstance(entry, dict) else None
                    if row is not None:
                        rows[(row["user_id"], row["event_id"])] = row
    return list(rows.values())


def absences_replace(rows: list[dict], *, synced_at: datetime) -> int:
    """Replace the mirrored absences with `rows` in one transaction (readers see either the old
    window or the new one, never a half)."""
    with transaction.atomic():
        UserAbsence.objects.all().delete()
        UserAbsence.objects.bulk_create(
            [UserAbsence(**row, synced_at=synced_at) for row in rows], batch_size=1000
        )
    return len(rows)


def absences_refresh(portal, *, client: BitrixClient | None = None, today: date | None = None):
    """Re-read the absence window of the portal's active employees; returns the job outcome."""
    if SCOPE not in portal_granted_scopes(portal_id=portal.pk):
        logger.info(
            "absence chart not read: the portal did not grant the calendar scope",
            extra={"portal_id": portal.pk},
        )
        return "skipped:no_calendar_scope"
    today = today or timezone.localdate()
    users = User.objects.filter(active=True).values_list("id", flat=True)
    client = client or BitrixClient.for_portal(portal)
    try:
        rows = absences_read(
            client,
            users,
            day_from=today - timedelta(days=DAYS_BEFORE),
            day_to=today + timedelta(days=DAYS_AHEAD),
        )
    except BitrixAccessDenied as exc:  # the scope was taken back after the install
        logger.warning("absence chart not read: %s", exc, extra={"portal_id": portal.pk})
        return "skipped:calendar_denied"
    return f"absences:{absences_replace(rows, synced_at=timezone.now())}"


def absences_refresh_job(portal) -> str:
    """Periodic job (hourly): the mirror of the absence chart."""
    return absences_refresh(portal)
