"""Support figures for a period (SPEC §12) from plain data: no database, no clock (pure).

`report_data.py` loads the plain data (`History`); `build_report` turns it into one row per
department, one for all of them and one per staff member. What grows is `FIGURES`: each
`Figure` is a small named handler that adds its keys to a row, and the terminal table, the
CSV and the HTML page follow the registry. docs/reports.md defines every figure.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from mailtickets.business_hours import BusinessCalendar

OPEN_STATUSES = ("new", "open", "waiting")


@dataclass(frozen=True)
class Band:
    """A backlog age band: calendar age from opening to the period's end, at least `lower`."""

    key: str
    lower: timedelta
    label: str


BANDS = (
    Band("under_1d", timedelta(), "under 1 day"),
    Band("1d_to_3d", timedelta(days=1), "1 to 3 days"),
    Band("3d_to_7d", timedelta(days=3), "3 to 7 days"),
    Band("over_7d", timedelta(days=7), "7 days or more"),
)
AUTOMATIC, STAFF, CUSTOMER = "automatic", "staff", "customer"

Value = int | float | str | None | dict[str, int]
Row = dict[str, Value]


# --- the plain data, as loaded ---------------------------------------------------------------


@dataclass(frozen=True)
class TicketFacts:
    id: int
    code: str
    department: str  # the department it is in now
    created_at: datetime
    status: str  # its status now


@dataclass(frozen=True)
class StatusEvent:
    """A `status` event as the writer records it: detail "old → new: reason"."""

    ticket_id: int
    at: datetime
    actor: str
    detail: str


@dataclass(frozen=True)
class Answer:
    """A staff answer relayed to the customer: its ticket, when it was processed, by whom."""

    ticket_id: int
    at: datetime
    staff: str


@dataclass(frozen=True)
class Score:
    """A customer's rating of one closing (1 to 5) and when it was recorded."""

    ticket_id: int
    at: datetime
    score: int


@dataclass(frozen=True)
class History:
    tickets: tuple[TicketFacts, ...]
    status_events: tuple[StatusEvent, ...]
    answers: tuple[Answer, ...]  # at least each ticket's first answer
    ratings: tuple[Score, ...] = ()


@dataclass(frozen=True)
class DepartmentRules:
    """How a department's time is counted: its business calendar and first-response SLA."""

    calendar: BusinessCalendar
    sla: timedelta | None


@dataclass(frozen=True)
class Site:
    """What the report needs of the configuration, as plain data."""

    departments: tuple[str, ...]  # configured, in their order
    rules: Mapping[str, DepartmentRules]
    default_rules: DepartmentRules  # for a department no longer configured
    staff: Mapping[str, str]  # address → name
    system_actor: str  # who the daemon's own events name (the auto-close timer)

    def rules_for(self, department: str) -> DepartmentRules:
        return self.rules.get(department, self.default_rules)


@dataclass(frozen=True)
class Period:
    """Whole days `first_day`..`last_day` in the site's zone; figures stop at `as_of`."""

    first_day: date
    last_day: date
    tz: ZoneInfo
    now: datetime

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    # Cached: every figure asks whether a moment is in the period, for every ticket.
    @cached_property
    def start(self) -> datetime:
        return self._midnight(self.first_day)

    @cached_property
    def end(self) -> datetime:
        return self._midnight(self.last_day + timedelta(days=1))

    @cached_property
    def as_of(self) -> datetime:
        """The period's end, or now for a period that has not ended yet."""
        return min(self.end, self.now)

    def __contains__(self, when: object) -> bool:
        return isinstance(when, datetime) and self.start <= when < self.end

    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]

    def local_day(self, when: datetime) -> date:
        return when.astimezone(self.tz).date()


# --- one ticket's story, from its events -----------------------------------------------------

_CHANGE = re.compile(r"^(\w+) → (\w+)(?::|$)")


@dataclass(frozen=True)
class Change:
    at: datetime
    old: str
    new: str
    by: str  # automatic | staff | customer


def parse_change(event: StatusEvent, site: Site) -> Change | None:
    """The status change an event records, and who made it; None for another format."""
    found = _CHANGE.match(event.detail)
    if found is None:
        return None
    actor = event.actor.lower()
    by = AUTOMATIC if actor == site.system_actor else STAFF if actor in site.staff else CUSTOMER
    return Change(event.at, found.group(1), found.group(2), by)


@dataclass(frozen=True)
class Story:
    """One ticket with its status changes in order and its first staff answer."""

    ticket: TicketFacts
    rules: DepartmentRules
    changes: tuple[Change, ...]
    first_answer: Answer | None
    ratings: tuple[Score, ...] = ()
    # Business spans already counted: the same one is asked for by a department's row, the
    # "all" row and the days (counting walks the calendar day by day).
    _spans: dict[tuple[datetime, datetime], timedelta] = field(
        default_factory=dict, compare=False, repr=False
    )

    def status_before(self, when: datetime) -> str | None:
        """Its status just before `when`; None if it did not exist yet."""
        if self.ticket.created_at >= when:
            return None
        status = "new"
        for change in self.changes:
            if change.at >= when:
                break
            status = change.new
        return status

    def closings(self) -> list[Change]:
        return [c for c in self.changes if c.new == "closed" and c.old != "closed"]

    def reopenings(self) -> list[Change]:
        return [c for c in self.changes if c.old == "closed" and c.new in OPEN_STATUSES]

    def merges(self) -> list[Change]:
        return [c for c in self.changes if c.new == "merged"]

    def ended_at(self) -> datetime | None:
        """When it was first closed or merged: no first answer is owed after that."""
        return next((c.at for c in self.changes if c.new in ("closed", "merged")), None)

    def business(self, start: datetime, end: datetime) -> timedelta:
        """Business time from `start` to `end` in its department's calendar."""
        span = self._spans.get((start, end))
        if span is None:
            span = self._spans[(start, end)] = self.rules.calendar.between(start, end)
        return span


def stories(history: History, site: Site) -> list[Story]:
    """Each ticket's story; events and answers of tickets not in `history` are ignored."""
    changes: dict[int, list[Change]] = {}
    for event in sorted(history.status_events, key=lambda e: e.at):
        change = parse_change(event, site)
        if change is not None:
            changes.setdefault(event.ticket_id, []).append(change)
    first: dict[int, Answer] = {}
    for answer in sorted(history.answers, key=lambda a: a.at):
        first.setdefault(answer.ticket_id, answer)
    ratings: dict[int, list[Score]] = {}
    for rating in sorted(history.ratings, key=lambda r: r.at):
        ratings.setdefault(rating.ticket_id, []).append(rating)
    return [
        Story(
            t,
            site.rules_for(t.department),
            tuple(changes.get(t.id, ())),
            first.get(t.id),
            tuple(ratings.get(t.id, ())),
        )
        for t in history.tickets
    ]


# --- statistics ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count); None if empty."""
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], percent: int) -> float | None:
    """Nearest rank: the smallest value that `percent`% of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, (percent * len(ordered) + 99) // 100)  # ceil in integers: no float drift
    return ordered[rank - 1]


def minutes(span: timedelta) -> float:
    return span.total_seconds() / 60


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def band_of(age: timedelta) -> str:
    """The backlog band of an age: the last band whose lower bound it reaches."""
    return [band.key for band in BANDS if age >= band.lower][-1]


def period_head(period: Period, schema: int) -> dict[str, Any]:
    """The keys every report's JSON opens with: its schema and the period's days and zone."""
    return {
        "schema": schema,
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "timezone": period.tz.key,
    }
