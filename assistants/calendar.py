"""Day counting for rules: calendar days, or working days with the portal's weekends and holidays.

Rules compare a client's clock with a cutoff moment ("N days before now"), so the calendar is
walked once per rule and pass, not once per client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class WorkCalendar:
    working_days: bool = False
    weekend: frozenset[int] = frozenset({6, 7})  # ISO weekdays
    holidays: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, calendar: dict) -> WorkCalendar:
        return cls(
            working_days=calendar["working_days"],
            weekend=frozenset(calendar["weekend"]),
            holidays=frozenset(date.fromisoformat(day) for day in calendar["holidays"]),
        )

    def is_working(self, day: date) -> bool:
        return day.isoweekday() not in self.weekend and day not in self.holidays

    def cutoff(self, as_of: datetime, days: int) -> datetime:
        """The moment `days` (calendar or working) days before `as_of`.

        With working days, non-working days are skipped: a Friday call counted on Monday with a
        1-working-day limit has not expired yet.
        """
        if not self.working_days or days <= 0:
            return as_of - timedelta(days=days)
        moment = as_of
        remaining = days
        for _ in range(days * 7 + 400):  # bounded even with a year of holidays
            moment -= timedelta(days=1)
            if self.is_working(moment.date()):
                remaining -= 1
                if remaining == 0:
                    return moment
        return moment

    def after(self, start: datetime, days: int) -> datetime:
        """The moment `days` (calendar or working) days after `start`: when a clock runs out.

        The counterpart of `cutoff`, for telling people the date a status will change.
        """
        if not self.working_days or days <= 0:
            return start + timedelta(days=days)
        moment = start
        remaining = days
        for _ in range(days * 7 + 400):
            moment += timedelta(days=1)
            if self.is_working(moment.date()):
                remaining -= 1
                if remaining == 0:
                    return moment
        return moment
