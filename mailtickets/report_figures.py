"""The report's figures: one small named handler each, in one registry (pure).

A `Figure` adds its keys to a row about a group of tickets (a department's, all of them,
or one staff member's); the terminal table, the CSV and the HTML page show the columns it
declares, in registry order. A new figure is one more entry in `FIGURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from mailtickets.report_story import (
    AUTOMATIC,
    BANDS,
    CUSTOMER,
    OPEN_STATUSES,
    STAFF,
    Change,
    DepartmentRules,
    Period,
    Row,
    Score,
    Story,
    band_of,
    median,
    minutes,
    percentile,
    rounded,
    share,
)

# --- figures: small named handlers over a group of tickets ----------------------------------


@dataclass(frozen=True)
class Group:
    """The tickets one row is about: a department's, all of them, or one staff member's."""

    kind: str  # department | all | staff
    name: str
    stories: tuple[Story, ...]
    period: Period
    rules: DepartmentRules | None = None  # a department row's
    staff: str = ""  # a staff row's address


@dataclass(frozen=True)
class Column:
    """One value shown in the table, CSV and page: its key ("a.b" reaches into an object),
    a heading, and how it reads (count, minutes, share or average)."""

    key: str
    heading: str
    kind: str = "count"


@dataclass(frozen=True)
class Figure:
    """One named figure: the keys it adds to a row and the columns that show them."""

    name: str
    description: str
    columns: tuple[Column, ...]
    compute: Callable[[Group], Row]
    per_staff: bool = False  # also computed for each staff member's row


def first_responses(group: Group) -> list[tuple[Story, float]]:
    """First answers given in the period (by the group's staff member, on a staff row), with
    their business minutes from opening."""
    found = []
    for story in group.stories:
        answer = story.first_answer
        if answer is None or answer.at not in group.period:
            continue
        if group.staff and answer.staff != group.staff:
            continue
        found.append((story, minutes(story.business(story.ticket.created_at, answer.at))))
    return found


def last_closings(group: Group) -> list[tuple[Story, Change]]:
    """Each ticket closed in the period, with its last closing in the period."""
    found = []
    for story in group.stories:
        inside = [c for c in story.closings() if c.at in group.period]
        if inside:
            found.append((story, inside[-1]))
    return found


def _opened(group: Group) -> Row:
    return {"opened": sum(1 for s in group.stories if s.ticket.created_at in group.period)}


def _closed(group: Group) -> Row:
    closed = last_closings(group)
    by = {kind: sum(1 for _, c in closed if c.by == kind) for kind in (AUTOMATIC, STAFF, CUSTOMER)}
    return {
        "closed": len(closed),
        "closed_automatically": by[AUTOMATIC],
        "closed_by_staff": by[STAFF],
        "closed_by_customer": by[CUSTOMER],
        "closed_automatically_share": share(by[AUTOMATIC], len(closed)),
    }


def _reopened(group: Group) -> Row:
    reopened = sum(1 for s in group.stories if any(c.at in group.period for c in s.reopenings()))
    return {"reopened": reopened, "reopen_rate": share(reopened, len(last_closings(group)))}


def _merged(group: Group) -> Row:
    return {
        "merged": sum(1 for s in group.stories if any(c.at in group.period for c in s.merges()))
    }


def _first_response(group: Group) -> Row:
    values = [m for _, m in first_responses(group)]
    return {
        "first_responses": len(values),
        "first_response_median_minutes": rounded(median(values)),
        "first_response_p90_minutes": rounded(percentile(values, 90)),
    }


def breached(story: Story, period: Period) -> bool:
    """Its first-answer deadline fell in the period, had passed by `as_of`, and came before
    the first answer (or before it was closed or merged unanswered; or it still waits)."""
    sla = story.rules.sla
    if sla is None:
        return False
    deadline = story.rules.calendar.add(story.ticket.created_at, sla)
    if deadline not in period or deadline >= period.as_of:
        return False
    ends = [story.first_answer.at] if story.first_answer else []
    ends += [at] if (at := story.ended_at()) else []
    return not ends or min(ends) > deadline


def _sla(group: Group) -> Row:
    sla = group.rules.sla if group.rules else None
    return {
        "sla_minutes": rounded(minutes(sla)) if sla else None,
        "sla_breaches": sum(1 for s in group.stories if breached(s, group.period)),
    }


def _resolution(group: Group) -> Row:
    values = [minutes(s.business(s.ticket.created_at, c.at)) for s, c in last_closings(group)]
    return {
        "resolution_median_minutes": rounded(median(values)),
        "resolution_p90_minutes": rounded(percentile(values, 90)),
    }


def backlog(group: Group) -> list[tuple[Story, timedelta]]:
    """Tickets open at the period's end (as_of), with their calendar age then."""
    when = group.period.as_of
    return [
        (s, when - s.ticket.created_at)
        for s in group.stories
        if s.status_before(when) in OPEN_STATUSES
    ]


def _backlog(group: Group) -> Row:
    ages = [age for _, age in backlog(group)]
    bands = {band.key: 0 for band in BANDS}
    for age in ages:
        bands[band_of(age)] += 1
    return {"backlog": len(ages), "backlog_by_age": bands}


def ratings(group: Group) -> list[Score]:
    """The ratings of the group's tickets recorded in the period (one per closing at most)."""
    return [r for s in group.stories for r in s.ratings if r.at in group.period]


def _satisfaction(group: Group) -> Row:
    scores = [r.score for r in ratings(group)]
    average = round(sum(scores) / len(scores), 2) if scores else None
    return {
        "ratings": len(scores),
        "satisfaction_average": average,
        "satisfied_share": share(sum(1 for s in scores if s >= 4), len(scores)),
    }


def _c(key: str, heading: str, kind: str = "count") -> Column:
    return Column(key, heading, kind)


FIGURES: tuple[Figure, ...] = (
    Figure("opened", "tickets opened in the period", (_c("opened", "opened"),), _opened),
    Figure(
        "closed",
        "tickets closed in the period, by whom their last closing in it was made",
        (
            _c("closed", "closed"),
            _c("closed_automatically", "closed automatically"),
            _c("closed_by_staff", "closed by staff"),
            _c("closed_by_customer", "closed by the customer"),
            _c("closed_automatically_share", "share closed automatically", "share"),
        ),
        _closed,
    ),
    Figure(
        "reopened",
        "tickets reopened in the period, and per ticket closed",
        (_c("reopened", "reopened"), _c("reopen_rate", "reopen rate", "share")),
        _reopened,
    ),
    Figure("merged", "tickets merged into another", (_c("merged", "merged"),), _merged),
    Figure(
        "first_response",
        "first staff answers given in the period, business minutes from opening",
        (
            _c("first_responses", "first responses"),
            _c("first_response_median_minutes", "first response median", "minutes"),
            _c("first_response_p90_minutes", "first response p90", "minutes"),
        ),
        _first_response,
        per_staff=True,
    ),
    Figure(
        "sla",
        "first-answer deadlines of the period that were missed",
        (
            _c("sla_minutes", "first response SLA", "minutes"),
            _c("sla_breaches", "SLA breaches"),
        ),
        _sla,
    ),
    Figure(
        "resolution",
        "business minutes from opening to the closing counted in `closed`",
        (
            _c("resolution_median_minutes", "resolution median", "minutes"),
            _c("resolution_p90_minutes", "resolution p90", "minutes"),
        ),
        _resolution,
    ),
    Figure(
        "backlog",
        "tickets open at the period's end, by calendar age",
        (
            _c("backlog", "backlog"),
            *(_c(f"backlog_by_age.{b.key}", f"backlog {b.label}") for b in BANDS),
        ),
        _backlog,
    ),
    Figure(
        "satisfaction",
        "ratings of closings (1 to 5) recorded in the period, their average and share of 4-5",
        (
            _c("ratings", "ratings"),
            _c("satisfaction_average", "satisfaction average", "average"),
            _c("satisfied_share", "share rated 4 or 5", "share"),
        ),
        _satisfaction,
    ),
)


def columns(per_staff: bool = False) -> list[Column]:
    """Every column of a row (of a staff row), in registry order."""
    return [c for f in FIGURES if f.per_staff or not per_staff for c in f.columns]


def row(group: Group) -> Row:
    """A row: its name, then each figure's keys in registry order."""
    values: Row = {"name": group.name}
    if group.kind == "staff":
        values["email"] = group.staff
    for figure in FIGURES:
        if figure.per_staff or group.kind != "staff":
            values.update(figure.compute(group))
    return values
