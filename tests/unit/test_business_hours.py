"""Business-hours arithmetic with a fixed calendar: weekends, holidays, both DST Sundays."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailtickets.business_hours import BusinessCalendar, holiday_checker, parse_weekly

MADRID = ZoneInfo("Europe/Madrid")
OFFICE = BusinessCalendar(
    MADRID,
    parse_weekly("mon-fri 10:00-18:00"),
    holiday_checker("ES", "MD", frozenset({date(2026, 12, 24)})),
)
ALWAYS = BusinessCalendar(MADRID, parse_weekly("24/7"))


def madrid(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def test_inside_hours_the_same_day() -> None:
    assert OFFICE.add(madrid(2026, 11, 23, 10, 0), timedelta(minutes=30)) == madrid(
        2026, 11, 23, 10, 30
    )


def test_after_hours_waits_for_the_next_opening() -> None:
    assert OFFICE.add(madrid(2026, 11, 23, 17, 50), timedelta(minutes=30)) == madrid(
        2026, 11, 24, 10, 20
    )
    assert OFFICE.add(madrid(2026, 11, 23, 7, 0), timedelta(minutes=30)) == madrid(
        2026, 11, 23, 10, 30
    )


def test_friday_evening_goes_to_monday() -> None:
    assert OFFICE.add(madrid(2026, 11, 27, 19, 0), timedelta(minutes=30)) == madrid(
        2026, 11, 30, 10, 30
    )


def test_public_holidays_and_extra_closed_dates_are_skipped() -> None:
    # Mon 7 and Tue 8 Dec 2026 are holidays in Madrid: Friday evening → Wednesday.
    assert OFFICE.add(madrid(2026, 12, 4, 18, 30), timedelta(minutes=30)) == madrid(
        2026, 12, 9, 10, 30
    )
    # 24 Dec is closed by the site, 25 is Christmas: Wednesday evening → Monday 28.
    assert OFFICE.add(madrid(2026, 12, 23, 18, 0), timedelta(hours=1)) == madrid(
        2026, 12, 28, 11, 0
    )


def test_spring_forward_sunday_24_7() -> None:
    # 29 Mar 2026: 02:00 → 03:00 in Madrid. One real hour from 01:30 is 03:30 local.
    start = madrid(2026, 3, 29, 1, 30)
    assert ALWAYS.add(start, timedelta(hours=1)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert ALWAYS.between(madrid(2026, 3, 29, 0, 0), madrid(2026, 3, 30, 0, 0)) == timedelta(
        hours=23
    )


def test_fall_back_sunday_24_7() -> None:
    # 25 Oct 2026: 03:00 → 02:00 in Madrid; that day has 25 hours.
    assert ALWAYS.between(madrid(2026, 10, 25, 0, 0), madrid(2026, 10, 26, 0, 0)) == timedelta(
        hours=25
    )
    start = madrid(2026, 10, 25, 1, 30)  # UTC 23:30 the day before
    assert ALWAYS.add(start, timedelta(hours=2)).astimezone(UTC) == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )


def test_office_hours_across_dst_weekends_keep_local_opening_times() -> None:
    # Friday 27 Mar (CET) 17:30 + 1h → Monday 30 Mar (CEST) 10:30 local.
    assert OFFICE.add(madrid(2026, 3, 27, 17, 30), timedelta(hours=1)) == madrid(
        2026, 3, 30, 10, 30
    )
    assert OFFICE.add(madrid(2026, 10, 23, 17, 30), timedelta(hours=1)) == madrid(
        2026, 10, 26, 10, 30
    )


def test_between_counts_only_open_time() -> None:
    assert OFFICE.between(madrid(2026, 11, 27, 17, 0), madrid(2026, 11, 30, 11, 0)) == (
        timedelta(hours=2)
    )
    assert OFFICE.between(madrid(2026, 11, 30, 11, 0), madrid(2026, 11, 27, 17, 0)) == (timedelta())


@pytest.mark.parametrize("spec", ["lun-vie 9:00-14:00; lun-jue 16:00-19:00", "sat 10:00-24:00"])
def test_weekly_specs(spec: str) -> None:
    assert parse_weekly(spec)


@pytest.mark.parametrize("spec", ["weekdays 9-5", "mon-fri 18:00-10:00", "mon 25:00-26:00", ""])
def test_bad_weekly_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_weekly(spec)
