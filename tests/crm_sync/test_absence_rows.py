"""Reading calendar.accessibility.get entries: which are absences and which days they cover."""

from datetime import date

from crm_sync.sync.absences import absence_row


def _entry(**fields) -> dict:
    return {
        "ID": "17",
        "NAME": "Отпуск",
        "DATE_FROM": "02.03.2031",
        "DATE_TO": "06.03.2031",
        "DT_SKIP_TIME": "Y",
        "ACCESSIBILITY": "absent",
        **fields,
    }


def test_an_all_day_absence_covers_its_first_and_last_day():
    row = absence_row(9, _entry())
    assert row == {
        "user_id": 9,
        "event_id": 17,
        "starts_on": date(2031, 3, 2),
        "ends_on": date(2031, 3, 6),
    }


def test_meetings_and_free_time_are_not_absences():
    for accessibility in ("busy", "quest", "free", ""):
        assert absence_row(9, _entry(ACCESSIBILITY=accessibility)) is None


def test_a_timed_absence_ending_at_midnight_leaves_that_day_free():
    row = absence_row(
        9,
        _entry(DT_SKIP_TIME="N", DATE_FROM="02.03.2031 14:00:00", DATE_TO="04.03.2031 00:00:00"),
    )
    assert (row["starts_on"], row["ends_on"]) == (date(2031, 3, 2), date(2031, 3, 3))
    short = absence_row(
        9,
        _entry(DT_SKIP_TIME="N", DATE_FROM="02.03.2031 10:00:00", DATE_TO="02.03.2031 12:00:00"),
    )
    assert (short["starts_on"], short["ends_on"]) == (date(2031, 3, 2), date(2031, 3, 2))


def test_an_unreadable_entry_is_skipped_not_fatal():
    assert absence_row(9, _entry(DATE_FROM="soon")) is None
    assert absence_row(9, {"ACCESSIBILITY": "absent"}) is None
