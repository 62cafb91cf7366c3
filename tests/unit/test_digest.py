"""The daily digest's sections and its day and hour, as plain data (mailtickets/digest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailtickets import digest
from mailtickets.business_hours import BusinessCalendar, parse_weekly
from mailtickets.digest import ASSIGNED, DEPARTMENT, DigestTicket, Target

MADRID = ZoneInfo("Europe/Madrid")
OFFICE = BusinessCalendar(
    MADRID, parse_weekly("mon-fri 10:00-18:00"), is_closed=lambda d: d == date(2026, 12, 8)
)
HALF_HOUR, TWO_HOURS, DAY = timedelta(minutes=30), timedelta(hours=2), timedelta(days=1)


def madrid(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MADRID)


MONDAY_0830 = madrid(30, 8, 30)  # Monday 30 November 2026


def ticket(code: str, opened: datetime, **fields: object) -> DigestTicket:
    base = DigestTicket(
        code=code,
        subject=f"asunto {code}",
        status="new",
        priority="normal",
        department="Hosting",
        assignee="",
        created_at=opened.astimezone(UTC),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


# --- sections ---------------------------------------------------------------------------------


def test_open_tickets_are_counted_by_calendar_age_in_every_band() -> None:
    tickets = [
        ticket("A", MONDAY_0830 - timedelta(hours=3)),
        ticket("B", MONDAY_0830 - timedelta(days=2), status="waiting"),
        ticket("C", MONDAY_0830 - timedelta(days=3)),  # exactly 3 days: the next band
        ticket("D", MONDAY_0830 - timedelta(days=40), status="open"),
        ticket("E", MONDAY_0830 - timedelta(days=40), status="closed"),
    ]
    assert digest.age_bands(tickets, MONDAY_0830) == (
        ("under_1d", 1),
        ("1d_to_3d", 1),
        ("3d_to_7d", 1),
        ("over_7d", 1),
    )
    assert digest.age_bands([], MONDAY_0830) == tuple((k, 0) for k in digest.BAND_KEYS)


def test_first_answers_at_risk_count_business_hours_across_the_weekend() -> None:
    # Friday 17:00: two business hours ahead reach Monday 11:00 (one hour Friday, one Monday).
    friday_5pm = madrid(27, 17)
    soon = ticket("SOON", madrid(27, 17, 45))  # due Monday 10:15
    later = ticket("LATER", madrid(30, 11, 30))  # due Monday 12:00 (opened "in the future")
    late = ticket("LATE", madrid(27, 10))  # due Friday 10:30: late
    answered = ticket("ANSWERED", madrid(27, 10), last_staff_at=madrid(27, 10, 5))
    waiting = ticket("WAITING", madrid(27, 16, 50), status="waiting")
    found = digest.sla_at_risk(
        [soon, later, late, answered, waiting], friday_5pm, OFFICE, HALF_HOUR, TWO_HOURS
    )
    assert [(r.ticket.code, r.overdue) for r in found] == [
        ("LATE", True),
        ("WAITING", False),  # due Friday 17:20 and never answered: still at risk
        ("SOON", False),
    ]
    assert found[2].due == madrid(30, 10, 15)


def test_at_risk_on_a_monday_morning_counts_nothing_of_the_night() -> None:
    # 08:30, before opening: 10:15 is 15 business minutes away, 12:30 two and a half hours.
    tickets = [ticket("SOON", madrid(30, 9, 45)), ticket("FAR", madrid(30, 12))]
    tickets[0] = replace(tickets[0], first_response_due=madrid(30, 10, 15).astimezone(UTC))
    tickets[1] = replace(tickets[1], first_response_due=madrid(30, 12, 30).astimezone(UTC))
    found = digest.sla_at_risk(tickets, MONDAY_0830, OFFICE, HALF_HOUR, TWO_HOURS)
    assert [r.ticket.code for r in found] == ["SOON"]


def test_an_escalated_ticket_whose_due_time_was_cleared_is_still_late() -> None:
    escalated = ticket("ESC", madrid(26, 10), first_response_due=None)
    found = digest.sla_at_risk([escalated], MONDAY_0830, OFFICE, HALF_HOUR, TWO_HOURS)
    assert [(r.ticket.code, r.overdue, r.due) for r in found] == [
        ("ESC", True, madrid(26, 10, 30).astimezone(UTC))
    ]
    assert digest.sla_at_risk([escalated], MONDAY_0830, OFFICE, None, TWO_HOURS) == ()


def test_waiting_tickets_longest_waiting_first() -> None:
    tickets = [
        ticket("NEW", madrid(29, 9), status="waiting", last_staff_at=madrid(29, 12)),
        ticket("OLD", madrid(20, 9), status="waiting", last_staff_at=madrid(21, 12)),
        ticket("OPEN", madrid(20, 9), status="open"),
    ]
    assert [t.code for t in digest.waiting(tickets)] == ["OLD", "NEW"]


def test_what_the_auto_close_closes_before_tomorrow_ends() -> None:
    reminded = dict(status="waiting")
    tickets = [
        # Reminder sent Sunday 10:00: closes Monday 10:00 (today, after the digest).
        ticket("TODAY", madrid(20, 9), reminder_sent_at=madrid(29, 10), **reminded),
        # Reminder sent Monday 07:00: closes Tuesday 07:00.
        ticket("TOMORROW", madrid(20, 9), reminder_sent_at=madrid(30, 7), **reminded),
        # The reminder itself is due Tuesday 09:00: the close a day later, Wednesday.
        ticket("LATER", madrid(20, 9), remind_at=madrid(1, 9, month=12), **reminded),
        # The reminder is due tonight: closed tomorrow night.
        ticket("REMIND", madrid(20, 9), remind_at=madrid(30, 20), **reminded),
        ticket("ANSWERED", madrid(20, 9), status="open", reminder_sent_at=madrid(29, 10)),
    ]
    found = digest.closing_by_tomorrow(tickets, MONDAY_0830, MADRID, DAY)
    assert [(c.ticket.code, c.at.astimezone(MADRID)) for c in found] == [
        ("TODAY", madrid(30, 10)),
        ("TOMORROW", madrid(1, 7, month=12)),
        ("REMIND", madrid(1, 20, month=12)),
    ]


def test_a_reminder_already_due_closes_a_day_after_it_goes_out() -> None:
    overdue = ticket("X", madrid(20, 9), status="waiting", remind_at=madrid(28, 9))
    assert digest.closes_at(overdue, MONDAY_0830, DAY) == MONDAY_0830 + DAY
    assert digest.closes_at(replace(overdue, remind_at=None), MONDAY_0830, DAY) is None


def test_assigned_tickets_are_the_open_ones_of_that_person_oldest_first() -> None:
    ana = "ana@example.com"
    tickets = [
        ticket("B", madrid(29, 9), assignee=ana, status="waiting"),
        ticket("A", madrid(20, 9), assignee=ana, department="Dominios"),
        ticket("C", madrid(20, 9), assignee=ana, status="closed"),
        ticket("D", madrid(20, 9), assignee="pablo@example.com"),
    ]
    assert [t.code for t in digest.assigned_to(tickets, ana)] == ["A", "B"]


def test_a_department_digest_reads_only_its_own_tickets() -> None:
    tickets = [
        ticket(
            "H",
            madrid(29, 7),
            status="waiting",
            last_staff_at=madrid(29, 8),
            reminder_sent_at=madrid(30, 7),
        ),
        ticket("F", madrid(30, 7), department="Facturación"),
    ]
    section = digest.department_digest(
        "Hosting", tickets, MONDAY_0830, OFFICE, HALF_HOUR, TWO_HOURS, DAY
    )
    assert section.open_count == 1 and [t.code for t in section.waiting] == ["H"]
    assert [c.ticket.code for c in section.closing] == ["H"] and section.at_risk == ()


# --- the day and the hour ----------------------------------------------------------------------


def office_day(day: date) -> bool:
    return digest.is_business_day(OFFICE, day)


def test_business_days_are_the_calendars_open_days() -> None:
    assert office_day(date(2026, 11, 30))  # Monday
    assert not office_day(date(2026, 11, 28))  # Saturday
    assert not office_day(date(2026, 12, 8))  # a closed date (a holiday)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (madrid(30, 8, 29), None),  # before the hour
        (madrid(30, 8, 30), date(2026, 11, 30)),  # at it
        (madrid(30, 17, 0), date(2026, 11, 30)),  # the daemon was down at 08:30: late, today
        (madrid(1, 7, 0, month=12), None),  # next morning, before the hour: not yesterday's
        (madrid(28, 9), None),  # Saturday
        (madrid(8, 9, month=12), None),  # the closed date
        (madrid(30, 23, 59), date(2026, 11, 30)),
    ],
)
def test_the_digest_is_due_from_the_hour_of_a_business_day(
    now: datetime, expected: date | None
) -> None:
    assert digest.due_day(now.astimezone(UTC), MADRID, time(8, 30), office_day) == expected


def test_the_hour_is_the_sites_local_hour() -> None:
    # 07:45 UTC is 08:45 in Madrid in winter but 03:45 in New York.
    now = datetime(2026, 11, 30, 7, 45, tzinfo=UTC)
    every_day = lambda _day: True  # noqa: E731
    assert digest.due_day(now, MADRID, time(8, 30), every_day) == date(2026, 11, 30)
    assert digest.due_day(now, ZoneInfo("America/New_York"), time(8, 30), every_day) is None
    # 23:30 UTC on Sunday is already Monday 00:30 in Madrid: Monday's day, before its hour.
    late = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert digest.due_day(late, MADRID, time(0, 15), office_day) == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("day", "before", "after"),
    [
        # Spring forward (29 March 2026): 08:30 is CEST, 06:30 UTC.
        (date(2026, 3, 29), datetime(2026, 3, 29, 6, 29, tzinfo=UTC), (6, 31)),
        # Fall back (25 October 2026): 08:30 is CET again, 07:30 UTC.
        (date(2026, 10, 25), datetime(2026, 10, 25, 7, 29, tzinfo=UTC), (7, 31)),
    ],
)
def test_the_hour_on_a_dst_change_day(day: date, before: datetime, after: tuple[int, int]) -> None:
    every_day = lambda _day: True  # noqa: E731
    assert digest.due_day(before, MADRID, time(8, 30), every_day) is None
    at = datetime.combine(day, time(*after), tzinfo=UTC)
    assert digest.due_day(at, MADRID, time(8, 30), every_day) == day


def test_an_hour_that_the_clock_skips_is_taken_an_hour_later() -> None:
    # 02:30 does not exist on 29 March 2026 in Madrid (02:00 → 03:00): due from 03:30 CEST.
    every_day = lambda _day: True  # noqa: E731
    assert (
        digest.due_day(datetime(2026, 3, 29, 1, 29, tzinfo=UTC), MADRID, time(2, 30), every_day)
        is None
    )
    due = digest.due_day(datetime(2026, 3, 29, 1, 31, tzinfo=UTC), MADRID, time(2, 30), every_day)
    assert due == date(2026, 3, 29)


# --- recipients and threads -------------------------------------------------------------------


ANA, PABLO = "ana@example.com", "pablo@example.com"


def test_targets_department_digests_first_then_each_staff_members_own() -> None:
    found = digest.targets([("Hosting", (ANA,)), ("Dominios", (PABLO, ANA))], [ANA, PABLO])
    assert found == (
        Target(DEPARTMENT, ANA, "Hosting"),
        Target(DEPARTMENT, PABLO, "Dominios"),
        Target(DEPARTMENT, ANA, "Dominios"),
        Target(ASSIGNED, ANA),
        Target(ASSIGNED, PABLO),
    )


def test_each_recipients_mails_of_a_day_are_one_thread_and_the_next_day_another() -> None:
    found = digest.targets([("Hosting", (ANA,)), ("Dominios", (PABLO, ANA))], [ANA, PABLO])
    monday = digest.threads(found, date(2026, 11, 30), "example.com")
    hosting, dominios, own = (monday[t] for t in found if t.recipient == ANA)
    assert hosting.in_reply_to == "" and hosting.references == ()
    assert dominios.in_reply_to == hosting.message_id
    assert own.in_reply_to == dominios.message_id
    assert own.references == (hosting.message_id, dominios.message_id)
    assert monday[Target(ASSIGNED, PABLO)].references == (
        monday[Target(DEPARTMENT, PABLO, "Dominios")].message_id,
    )
    assert "20261130" in hosting.message_id and hosting.message_id.endswith("@example.com>")
    # The same ids whoever computes them (another worker, after a restart); new ones tomorrow.
    assert digest.threads(found, date(2026, 11, 30), "example.com") == monday
    tuesday = digest.threads(found, date(2026, 12, 1), "example.com")
    assert not {t.message_id for t in tuesday.values()} & {t.message_id for t in monday.values()}
    assert len({t.message_id for t in monday.values()}) == len(found)
