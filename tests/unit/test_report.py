"""The report's figures on hand-made histories, each expected value worked out by hand.

The site: office hours Mon-Fri 10:00-18:00 in Madrid (late November 2026: UTC+1, no public
holiday), Hosting with a 30 min first-response SLA, Dominios with none. The period is the
week Mon 23 - Sun 29 November 2026.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailtickets.business_hours import BusinessCalendar, holiday_checker, parse_weekly
from mailtickets.report import Report, build_report
from mailtickets.report_figures import breached
from mailtickets.report_story import (
    Answer,
    DepartmentRules,
    History,
    Period,
    Row,
    Site,
    StatusEvent,
    Story,
    TicketFacts,
    band_of,
    median,
    parse_change,
    percentile,
    stories,
)

MADRID = ZoneInfo("Europe/Madrid")
OFFICE = BusinessCalendar(
    MADRID, parse_weekly("mon-fri 10:00-18:00"), holiday_checker("ES", "MD", frozenset())
)
HOSTING = DepartmentRules(OFFICE, timedelta(minutes=30))
DOMINIOS = DepartmentRules(OFFICE, None)
ANA, PABLO = "ana@hosting.example", "pablo@hosting.example"
LAURA = "laura@cliente.example"
SITE = Site(
    departments=("Hosting", "Dominios"),
    rules={"Hosting": HOSTING, "Dominios": DOMINIOS},
    default_rules=HOSTING,
    staff={ANA: "Ana García", PABLO: "Pablo Ruiz"},
    system_actor="mailtickets",
)
AFTER = datetime(2026, 12, 10, tzinfo=MADRID)  # "now", long after the period
WEEK = Period(date(2026, 11, 23), date(2026, 11, 29), MADRID, AFTER)


def madrid(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MADRID)


def ticket(
    n: int, opened: datetime, department: str = "Hosting", status: str = "new"
) -> TicketFacts:
    return TicketFacts(n, f"SOP-{n:06d}", department, opened, status)


def change(n: int, at: datetime, old: str, new: str, actor: str = ANA) -> StatusEvent:
    return StatusEvent(n, at, actor, f"{old} → {new}: why")


def answered(n: int, at: datetime, staff: str = ANA) -> Answer:
    return Answer(n, at, staff)


def report(
    tickets: Sequence[TicketFacts],
    events: Sequence[StatusEvent] = (),
    answers: Sequence[Answer] = (),
    period: Period = WEEK,
    department: str | None = None,
) -> Report:
    return build_report(
        History(tuple(tickets), tuple(events), tuple(answers)), SITE, period, department
    )


def hosting(result: Report) -> Row:
    return next(r for r in result.departments if r["name"] == "Hosting")


# --- statistics ----------------------------------------------------------------------------


def test_median_is_the_middle_or_the_mean_of_the_two_middles() -> None:
    assert median([50.0, 20.0]) == 35.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([]) is None


def test_p90_is_the_nearest_rank_without_float_drift() -> None:
    ten = [float(n) for n in range(1, 11)]
    assert percentile(ten, 90) == 9.0  # rank ceil(0.9 * 10) = 9, not 10 from 9.000000001
    assert percentile([20.0, 45.0, 50.0, 60.0], 90) == 60.0  # rank ceil(3.6) = 4
    assert percentile([15.0, 20.0, 35.0, 50.0, 60.0], 90) == 60.0  # rank ceil(4.5) = 5
    assert percentile([7.0], 90) == 7.0
    assert percentile([], 90) is None


def test_backlog_bands_include_their_lower_bound() -> None:
    assert band_of(timedelta(hours=23, minutes=59)) == "under_1d"
    assert band_of(timedelta(days=1)) == "1d_to_3d"
    assert band_of(timedelta(days=2, hours=23)) == "1d_to_3d"
    assert band_of(timedelta(days=3)) == "3d_to_7d"
    assert band_of(timedelta(days=7)) == "over_7d"
    assert band_of(timedelta(days=400)) == "over_7d"


def test_only_status_details_in_the_writers_format_are_changes() -> None:
    good = parse_change(change(1, madrid(23, 11), "waiting", "closed", "mailtickets"), SITE)
    assert good is not None and (good.old, good.new, good.by) == ("waiting", "closed", "automatic")
    by_customer = parse_change(change(1, madrid(23, 11), "open", "closed", LAURA), SITE)
    assert by_customer is not None and by_customer.by == "customer"
    assert parse_change(StatusEvent(1, madrid(23, 11), ANA, "closed by hand"), SITE) is None


# --- first response in business time -------------------------------------------------------


def test_first_response_counts_business_minutes_across_an_evening_and_a_weekend() -> None:
    result = report(
        [
            ticket(1, madrid(23, 10)),  # Monday 10:00, answered 10:20: 20 min
            ticket(2, madrid(26, 17, 40)),  # Thursday 17:40, answered Friday 10:30: 20 + 30
            ticket(3, madrid(21, 12), "Dominios"),  # Saturday 21, answered Monday 10:45: 45
            ticket(4, madrid(24, 16), "Dominios"),  # Tuesday 16:00, answered 17:00: 60
        ],
        answers=[
            answered(1, madrid(23, 10, 20)),
            answered(2, madrid(27, 10, 30)),
            answered(3, madrid(23, 10, 45), PABLO),
            answered(4, madrid(24, 17), PABLO),
        ],
    )
    assert hosting(result)["first_response_median_minutes"] == 35.0
    assert hosting(result)["first_response_p90_minutes"] == 50.0
    dominios = result.departments[1]
    assert (dominios["first_response_median_minutes"], dominios["first_response_p90_minutes"]) == (
        52.5,
        60.0,
    )
    assert result.total["first_responses"] == 4
    assert result.total["first_response_median_minutes"] == 47.5  # 20 45 | 50 60
    assert result.total["first_response_p90_minutes"] == 60.0
    staff = {r["email"]: r for r in result.staff}
    assert [r["name"] for r in result.staff] == ["Ana García", "Pablo Ruiz"]
    assert staff[ANA]["first_response_median_minutes"] == 35.0
    assert (
        staff[PABLO]["first_responses"] == 2 and staff[PABLO]["first_response_p90_minutes"] == 60.0
    )
    days = {d["date"]: d for d in result.days}
    assert days["2026-11-23"]["first_responses"] == 2  # tickets 1 and 3, on the answer's day
    assert days["2026-11-23"]["first_response_median_minutes"] == 32.5
    assert days["2026-11-27"]["first_response_median_minutes"] == 50.0
    assert days["2026-11-25"]["first_response_median_minutes"] is None


def test_only_a_tickets_first_answer_given_in_the_period_counts() -> None:
    result = report(
        [ticket(1, madrid(20, 10)), ticket(2, madrid(27, 17))],
        answers=[
            answered(1, madrid(20, 11)),  # before the period: not a first response of it
            answered(1, madrid(24, 11)),  # a later answer is never a first response
            answered(2, madrid(27, 17, 30)),
            answered(2, madrid(27, 17, 10)),  # the first, whatever order they come in
        ],
    )
    assert hosting(result)["first_responses"] == 1
    assert hosting(result)["first_response_median_minutes"] == 10.0


def test_a_staff_row_counts_that_staff_members_first_answers_only() -> None:
    result = report(
        [ticket(1, madrid(23, 10)), ticket(2, madrid(23, 10))],
        answers=[answered(1, madrid(23, 10, 5)), answered(2, madrid(23, 11), "nadie@otro.example")],
    )
    rows = {r["email"]: r for r in result.staff}
    assert rows[ANA]["first_response_median_minutes"] == 5.0
    assert rows["nadie@otro.example"]["name"] == "nadie@otro.example"  # no longer configured
    assert rows["nadie@otro.example"]["first_response_median_minutes"] == 60.0
    assert "opened" not in rows[ANA]


# --- SLA breaches ----------------------------------------------------------------------------


def story(
    opened: datetime,
    events: Sequence[StatusEvent] = (),
    answer: datetime | None = None,
    department: str = "Hosting",
) -> Story:
    answers = (answered(1, answer),) if answer else ()
    history = History((ticket(1, opened, department),), tuple(events), answers)
    return stories(history, SITE)[0]


@pytest.mark.parametrize(
    ("case", "opened", "events", "answer", "expected"),
    [
        ("answered in 30 min", madrid(23, 10), [], madrid(23, 10, 30), False),
        ("answered in 31 min", madrid(23, 10), [], madrid(23, 10, 31), True),
        # Friday 20 at 17:50: due Monday 23 at 10:20, answered at 10:15.
        ("over the weekend, in time", madrid(20, 17, 50), [], madrid(23, 10, 15), False),
        ("still unanswered", madrid(24, 12), [], None, True),
        (
            "closed unanswered before its deadline",
            madrid(24, 12),
            [change(1, madrid(24, 12, 10), "new", "closed", LAURA)],
            None,
            False,
        ),
        (
            "merged unanswered after its deadline",
            madrid(24, 12),
            [change(1, madrid(24, 13), "new", "merged")],
            None,
            True,
        ),
        # Sunday 22:00: due Monday 30 10:30, outside the period: the next period's breach.
        ("deadline after the period", madrid(29, 22), [], None, False),
        # Opened Friday 20 at 17:50: due Monday 23 at 10:20, inside the period.
        ("opened before, due inside", madrid(20, 17, 50), [], madrid(23, 11), True),
    ],
)
def test_a_breach_is_a_deadline_of_the_period_missed(
    case: str,
    opened: datetime,
    events: list[StatusEvent],
    answer: datetime | None,
    expected: bool,
) -> None:
    assert breached(story(opened, events, answer), WEEK) is expected, case


def test_no_sla_no_breach_and_a_deadline_still_ahead_is_no_breach_yet() -> None:
    assert not breached(story(madrid(24, 12), department="Dominios"), WEEK)
    # The week seen on Tuesday 24 at 12:20: a ticket of 12:00 is due at 12:30.
    tuesday = Period(date(2026, 11, 23), date(2026, 11, 29), MADRID, madrid(24, 12, 20))
    assert not breached(story(madrid(24, 12)), tuesday)
    later = Period(date(2026, 11, 23), date(2026, 11, 29), MADRID, madrid(24, 12, 31))
    assert breached(story(madrid(24, 12)), later)


def test_sla_breaches_are_counted_per_department_with_its_sla() -> None:
    result = report(
        [
            ticket(1, madrid(23, 10)),
            ticket(2, madrid(23, 10)),
            ticket(3, madrid(23, 10), "Dominios"),
        ],
        answers=[answered(1, madrid(23, 10, 20)), answered(2, madrid(23, 11))],
    )
    assert (hosting(result)["sla_breaches"], hosting(result)["sla_minutes"]) == (1, 30.0)
    assert (result.departments[1]["sla_breaches"], result.departments[1]["sla_minutes"]) == (
        0,
        None,
    )
    assert result.total["sla_breaches"] == 1 and result.total["sla_minutes"] is None


# --- closings, reopenings, auto-close share, resolution ------------------------------------


def test_closed_counts_tickets_by_who_made_their_last_closing_in_the_period() -> None:
    result = report(
        [ticket(n, madrid(23, 10), status="closed") for n in (1, 2, 3, 4)],
        events=[
            change(1, madrid(23, 11), "new", "waiting"),
            change(1, madrid(26, 10, 31), "waiting", "closed", "mailtickets"),
            change(2, madrid(24, 10), "waiting", "closed", "mailtickets"),
            change(2, madrid(24, 12), "closed", "open", LAURA),  # reopened by her reply
            change(2, madrid(25, 10), "open", "closed", ANA),  # last closing: by staff
            change(3, madrid(25, 18), "open", "closed", LAURA),
            change(4, madrid(30, 10), "waiting", "closed", "mailtickets"),  # after the period
        ],
    )
    row = hosting(result)
    assert (row["closed"], row["closed_automatically"], row["closed_by_staff"]) == (3, 1, 1)
    assert row["closed_by_customer"] == 1
    assert row["closed_automatically_share"] == 0.3333  # rounded to 4 places
    assert row["reopened"] == 1 and row["reopen_rate"] == 0.3333
    # Resolution, business minutes from Monday 10:00 to the last closing in the period:
    # ticket 1 Thursday 10:31 = 3 * 480 + 31; ticket 2 Wednesday 10:00 = 2 * 480;
    # ticket 3 Wednesday 18:00 = 3 * 480.
    assert row["resolution_median_minutes"] == 1440.0
    assert row["resolution_p90_minutes"] == 1471.0
    days = {d["date"]: d for d in result.days}
    assert (days["2026-11-25"]["closed"], days["2026-11-26"]["closed"]) == (2, 1)


def test_a_reopening_is_only_from_closed_and_merged_tickets_are_not_closed() -> None:
    result = report(
        [ticket(1, madrid(23, 10)), ticket(2, madrid(23, 10), status="merged")],
        events=[
            change(1, madrid(23, 11), "waiting", "open", ANA),  # #reopen of a waiting ticket
            change(2, madrid(23, 12), "new", "merged"),
        ],
    )
    row = hosting(result)
    assert (row["reopened"], row["reopen_rate"], row["closed"], row["merged"]) == (0, None, 0, 1)
    assert row["closed_automatically_share"] is None


# --- backlog at the period's end -----------------------------------------------------------


def test_backlog_is_what_was_open_at_the_periods_end_by_calendar_age() -> None:
    end = madrid(30, 0)  # Monday 30 at 00:00: the end of the week
    result = report(
        [
            ticket(1, end - timedelta(hours=5), status="waiting"),  # under a day
            ticket(2, end - timedelta(days=1), status="open"),  # exactly a day: 1 to 3 days
            ticket(3, end - timedelta(days=4), status="closed"),  # closed after the end
            ticket(4, end - timedelta(days=30), status="new"),  # a month old
            ticket(5, end - timedelta(days=2), status="closed"),  # closed inside the week
            ticket(6, end - timedelta(days=2), status="merged"),
            ticket(7, end + timedelta(hours=1), status="new"),  # opened after the end
        ],
        events=[
            change(3, end + timedelta(hours=10), "open", "closed"),
            change(5, end - timedelta(days=1), "new", "closed"),
            change(6, end - timedelta(days=1), "new", "merged"),
        ],
    )
    row = hosting(result)
    assert row["backlog"] == 4
    assert row["backlog_by_age"] == {"under_1d": 1, "1d_to_3d": 1, "3d_to_7d": 1, "over_7d": 1}
    assert row["opened"] == 5  # 1, 2, 3, 5, 6; not 4 (before) nor 7 (after)


def test_a_period_not_over_yet_counts_its_backlog_now() -> None:
    now = madrid(25, 12)
    this_week = Period(date(2026, 11, 23), date(2026, 11, 29), MADRID, now)
    result = report([ticket(1, madrid(23, 12), status="waiting")], period=this_week)
    assert this_week.as_of == now
    assert hosting(result)["backlog_by_age"] == {
        "under_1d": 0,
        "1d_to_3d": 1,
        "3d_to_7d": 0,
        "over_7d": 0,
    }


def test_one_department_asked_for_gives_one_row_and_its_own_total() -> None:
    result = report(
        [ticket(1, madrid(23, 10)), ticket(2, madrid(23, 10), "Dominios")], department="Dominios"
    )
    assert [r["name"] for r in result.departments] == ["Dominios"]
    assert result.total["opened"] == 1 and result.total["name"] == "Dominios"


def test_a_department_no_longer_configured_keeps_its_row() -> None:
    result = report([ticket(1, madrid(23, 10), "Correo")])
    assert [r["name"] for r in result.departments] == ["Hosting", "Dominios", "Correo"]
    assert result.departments[2]["opened"] == 1


def test_period_boundaries_are_local_midnights() -> None:
    assert WEEK.start.isoformat() == "2026-11-22T23:00:00+00:00"
    assert WEEK.end.isoformat() == "2026-11-29T23:00:00+00:00"
    assert madrid(23, 0) in WEEK and madrid(30, 0) not in WEEK
    assert madrid(22, 23, 59) not in WEEK
