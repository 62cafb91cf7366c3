"""`report --time`: minutes spent per customer and per staff member, from plain entries (pure).

`report_time_data.py` loads the entries recorded in the period (`#tiempo 25m`); this module
totals them and writes them as a table, CSV (one row per customer and staff member, for
invoicing) or JSON. docs/reports.md describes the outputs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailtickets.report_story import Period, period_head

SCHEMA = 1  # bumped when a JSON key changes meaning or goes away
CSV_COLUMNS = ("customer", "staff", "minutes", "hours")


@dataclass(frozen=True)
class Entry:
    """One recorded `#tiempo`, with its ticket's customer."""

    customer_id: int
    customer: str
    code: str
    department: str
    staff: str
    minutes: int
    at: datetime


@dataclass(frozen=True)
class StaffTotal:
    staff: str  # the address
    name: str  # the configured name, else the address
    minutes: int


@dataclass(frozen=True)
class CustomerTotal:
    customer: str
    minutes: int
    tickets: tuple[str, ...]  # the codes the time was spent on
    staff: tuple[StaffTotal, ...]


@dataclass(frozen=True)
class TimeReport:
    period: Period
    department: str | None
    customers: tuple[CustomerTotal, ...]  # most minutes first
    staff: tuple[StaffTotal, ...]  # most minutes first
    minutes: int


def hours(minutes: int) -> float:
    return round(minutes / 60, 2)


def build_time_report(
    entries: Sequence[Entry],
    names: Mapping[str, str],
    period: Period,
    department: str | None = None,
) -> TimeReport:
    """Totals of `entries` per customer (with each staff member's share) and per staff."""
    by_customer: dict[int, list[Entry]] = {}
    for entry in entries:
        by_customer.setdefault(entry.customer_id, []).append(entry)
    customers = [
        CustomerTotal(
            theirs[0].customer,
            sum(e.minutes for e in theirs),
            tuple(dict.fromkeys(e.code for e in theirs)),
            _per_staff(theirs, names),
        )
        for theirs in by_customer.values()
    ]
    customers.sort(key=lambda c: (-c.minutes, c.customer.lower()))
    total = sum(e.minutes for e in entries)
    return TimeReport(period, department, tuple(customers), _per_staff(entries, names), total)


def _per_staff(entries: Iterable[Entry], names: Mapping[str, str]) -> tuple[StaffTotal, ...]:
    minutes: dict[str, int] = {}
    for entry in entries:
        minutes[entry.staff] = minutes.get(entry.staff, 0) + entry.minutes
    found = [StaffTotal(s, names.get(s, s), m) for s, m in minutes.items()]
    return tuple(sorted(found, key=lambda t: (-t.minutes, t.name.lower(), t.staff)))


def _staff_json(total: StaffTotal) -> dict[str, Any]:
    return {
        "staff": total.staff,
        "name": total.name,
        "minutes": total.minutes,
        "hours": hours(total.minutes),
    }


def time_json(report: TimeReport) -> dict[str, Any]:
    """The object `report --time --json` prints."""
    return {
        **period_head(report.period, SCHEMA),
        "department": report.department,
        "minutes": report.minutes,
        "hours": hours(report.minutes),
        "customers": [
            {
                "customer": c.customer,
                "minutes": c.minutes,
                "hours": hours(c.minutes),
                "tickets": list(c.tickets),
                "staff": [_staff_json(s) for s in c.staff],
            }
            for c in report.customers
        ],
        "staff": [_staff_json(s) for s in report.staff],
    }


def time_csv(report: TimeReport) -> str:
    """One row per customer and staff member: customer, staff (address), minutes, hours."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for customer in report.customers:
        for staff in customer.staff:
            writer.writerow(
                (customer.customer, staff.staff, staff.minutes, f"{hours(staff.minutes):.2f}")
            )
    return out.getvalue()


def time_table(report: TimeReport) -> str:
    """The terminal table: each customer with its staff members, then totals per staff."""
    period = report.period
    scope = f", {report.department}" if report.department else ""
    lines = [f"Time spent {period.first_day} to {period.last_day} ({period.tz.key}{scope})", ""]
    if not report.customers:
        return "\n".join([*lines, "No time recorded in the period."])
    width = max(len(c.customer) for c in report.customers)
    width = max(width, *(len(s.name) for s in report.staff), len("customer"))
    lines.append(f"{'customer':<{width}}  {'staff':<32} {'minutes':>8} {'hours':>7}")
    for customer in report.customers:
        for n, staff in enumerate(customer.staff):
            shown = customer.customer if n == 0 else ""
            lines.append(_line(shown, width, staff.name, staff.minutes))
        if len(customer.staff) > 1:
            lines.append(_line("", width, "all", customer.minutes))
    lines += ["", "Per staff member"]
    lines += [_line(s.name, width, s.staff, s.minutes) for s in report.staff]
    lines += ["", _line("Total", width, "", report.minutes)]
    return "\n".join(lines)


def _line(first: str, width: int, second: str, minutes: int) -> str:
    return f"{first:<{width}}  {second:<32} {minutes:>8} {hours(minutes):>7.2f}"
