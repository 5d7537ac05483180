"""The `calendar` option (working days, weekend, holidays) over a mirror written row by row.

Day counting is pure decision logic: the sandbox would add nothing but minutes, so the same
client, called last on Friday 13 November and looked at on Monday 23 November (ten calendar
days), is judged under different calendars by the rules that count days: forgotten and the
status ladder.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from assistants.engine import assistants_pass_run
from tests.assistants.test_rules import (  # noqa: F401  (portal is a fixture)
    MONDAY,
    _call,
    _contact,
    _decisions,
    _ladder,
    _settings,
    portal,
)
from tests.conftest import in_portal

FRIDAY_CALL = MONDAY - timedelta(days=10)  # Friday 13 November 2026, 10:00
HOLIDAY = "2026-11-17"  # the Tuesday in between


def test_the_scenario_dates_are_what_the_calendars_below_assume():
    assert MONDAY.isoweekday() == 1 and FRIDAY_CALL.isoweekday() == 5
    assert datetime.fromisoformat(HOLIDAY).isoweekday() == 2


@pytest.mark.parametrize(
    ("calendar", "days", "forgotten"),
    [
        # Ten calendar days of silence pass an 8-day limit...
        ({"working_days": False, "weekend": [6, 7], "holidays": []}, 8, True),
        # ...but are six working days (two weekends off): an 8-working-day limit is not reached.
        ({"working_days": True, "weekend": [6, 7], "holidays": []}, 8, False),
        # Five working days are passed, unless the Tuesday holiday is a day off too.
        ({"working_days": True, "weekend": [6, 7], "holidays": []}, 5, True),
        ({"working_days": True, "weekend": [6, 7], "holidays": [HOLIDAY]}, 5, False),
        # The weekend is the portal's: with Sundays off only, seven days have passed.
        ({"working_days": True, "weekend": [7], "holidays": []}, 7, True),
        ({"working_days": True, "weekend": [6, 7], "holidays": []}, 7, False),
    ],
)
def test_forgotten_counts_days_by_the_portals_calendar(portal, calendar, days, forgotten):  # noqa: F811
    with in_portal(portal):
        _settings(calendar=calendar, ladder__enabled=False, forgotten__days=days)
        _contact()
        _call(3, 10, FRIDAY_CALL)

        assistants_pass_run(as_of=MONDAY)

        decided = [d.client_id for d in _decisions("forgotten.client")]
    assert decided == ([10] if forgotten else [])


@pytest.mark.parametrize(
    ("calendar", "lost"),
    [
        ({"working_days": False, "weekend": [6, 7], "holidays": []}, True),
        ({"working_days": True, "weekend": [6, 7], "holidays": [HOLIDAY]}, False),
    ],
)
def test_the_ladder_counts_days_by_the_portals_calendar(portal, calendar, lost):  # noqa: F811
    """A "New" client with an 8-day limit, last called ten calendar days ago (the brief's case:
    silent over a weekend and a holiday, lost with calendar days, not with working days)."""
    with in_portal(portal):
        _settings(
            calendar=calendar,
            forgotten__enabled=False,
            ladder__statuses=_ladder(new=8),
            ladder__warn_days_before=0,
        )
        _contact(status="new")
        _call(3, 10, FRIDAY_CALL)

        assistants_pass_run(as_of=MONDAY)

        moves = [(d.params["from"], d.params["to"]) for d in _decisions("ladder.decay")]
    assert moves == ([("new", "lost")] if lost else [])
