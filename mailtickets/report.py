"""Support figures for a period (SPEC §12) from plain data: no database, no clock (pure).

`report_data.py` loads the plain data (`History`); `build_report` turns it into one row per
department, one for all of them, one per staff member and one per day, with the figures of
`report_figures.FIGURES`. docs/reports.md defines every figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from mailtickets.report_figures import Group, first_responses, last_closings, row
from mailtickets.report_story import (
    History,
    Period,
    Row,
    Site,
    Story,
    median,
    percentile,
    rounded,
    stories,
)


@dataclass(frozen=True)
class Report:
    period: Period
    department: str | None  # the one asked for, or None for all
    departments: tuple[Row, ...]
    total: Row
    staff: tuple[Row, ...]
    days: tuple[Row, ...]


def build_report(
    history: History, site: Site, period: Period, department: str | None = None
) -> Report:
    """Every figure for the period, per department (or only `department`), in all, per staff."""
    everyone = tuple(
        s for s in stories(history, site) if department is None or s.ticket.department == department
    )
    names = [department] if department else _department_names(site, everyone)
    rows = tuple(
        row(
            Group(
                "department",
                name,
                tuple(s for s in everyone if s.ticket.department == name),
                period,
                site.rules_for(name),
            )
        )
        for name in names
    )
    total = row(Group("all", department or "all", everyone, period))
    answerers = {a.staff for s in everyone if (a := s.first_answer) and a.at in period}
    staff = tuple(
        row(Group("staff", site.staff.get(email, email), everyone, period, staff=email))
        for email in sorted(answerers, key=lambda e: (site.staff.get(e, e).lower(), e))
    )
    return Report(period, department, rows, total, staff, tuple(daily(everyone, period)))


def _department_names(site: Site, told: Iterable[Story]) -> list[str]:
    """The configured departments in order, then any other a ticket is in (since removed)."""
    others = sorted({s.ticket.department for s in told} - set(site.departments))
    return [*site.departments, *others]


def daily(told: Sequence[Story], period: Period) -> list[Row]:
    """Per day of the period: opened, closed, and the first answers given that day."""
    by_day: dict[date, list[float]] = {day: [] for day in period.days()}
    group = Group("all", "all", tuple(told), period)
    for story, value in first_responses(group):
        assert story.first_answer is not None
        by_day[period.local_day(story.first_answer.at)].append(value)
    opened = _count_by_day(period, (s.ticket.created_at for s in told))
    closed = _count_by_day(period, (c.at for _, c in last_closings(group)))
    return [
        {
            "date": day.isoformat(),
            "opened": opened.get(day, 0),
            "closed": closed.get(day, 0),
            "first_responses": len(values),
            "first_response_median_minutes": rounded(median(values)),
            "first_response_p90_minutes": rounded(percentile(values, 90)),
        }
        for day, values in by_day.items()
    ]


def _count_by_day(period: Period, moments: Iterable[datetime]) -> dict[date, int]:
    counts: dict[date, int] = {}
    for when in moments:
        if when in period:
            day = period.local_day(when)
            counts[day] = counts.get(day, 0) + 1
    return counts
