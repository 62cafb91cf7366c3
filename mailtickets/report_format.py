"""A report as JSON, a terminal table and CSV (pure: strings out, nothing written)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailtickets.report import Report
from mailtickets.report_figures import Column, columns
from mailtickets.report_story import Row, Value, period_head

SCHEMA = 1  # bumped when a JSON key changes meaning or goes away (new keys do not bump it)


def as_json(report: Report, generated_at: datetime) -> dict[str, Any]:
    """The object `report --json` prints; docs/reports.md lists the keys."""
    period = report.period
    return {
        **period_head(period, SCHEMA),
        "start": _iso(period.start, period.tz),
        "end": _iso(period.end, period.tz),
        "as_of": _iso(period.as_of, period.tz),
        "generated_at": _iso(generated_at, period.tz),
        "department": report.department,
        "departments": list(report.departments),
        "total": report.total,
        "staff": list(report.staff),
        "days": list(report.days),
    }


def _iso(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).isoformat(timespec="seconds")


def value(row: Row, key: str) -> Value:
    """The row's value at `key`; "a.b" reaches into the object at "a"."""
    head, dot, rest = key.partition(".")
    found = row.get(head)
    if dot:
        return found.get(rest) if isinstance(found, dict) else None
    return found


def shown(found: Value, kind: str) -> str:
    """A value as a person reads it: "-" for none, minutes with one decimal, shares in %,
    averages with two decimals."""
    if found is None:
        return "-"
    if kind == "share" and isinstance(found, int | float):
        return f"{found * 100:.0f}%"
    if kind == "minutes" and isinstance(found, int | float):
        return f"{found:.1f}"
    if kind == "average" and isinstance(found, int | float):
        return f"{found:.2f}"
    return str(found)


def headline(report: Report) -> str:
    period = report.period
    scope = f"department {report.department}" if report.department else "all departments"
    return (
        f"Support report {period.first_day} to {period.last_day} ({period.tz.key}), {scope}; "
        f"backlog as of {period.as_of.astimezone(period.tz):%Y-%m-%d %H:%M}; "
        "times in business minutes"
    )


def text_table(report: Report) -> str:
    """Figures down, departments (and all) across; then one line per staff member."""
    rows = [*report.departments, report.total] if not report.department else [report.total]
    names = [str(r["name"]) for r in rows]
    cols = columns()
    label = max(len(c.heading) for c in cols)
    widths = [max(8, len(n)) for n in names]
    lines = [headline(report), ""]
    lines.append(" " * label + "".join(f"  {n:>{w}}" for n, w in zip(names, widths, strict=True)))
    for column in cols:
        cells = [shown(value(r, column.key), column.kind) for r in rows]
        lines.append(
            f"{column.heading:<{label}}"
            + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    lines += ["", _staff_table(report)]
    return "\n".join(lines)


def _staff_table(report: Report) -> str:
    cols = columns(per_staff=True)
    if not report.staff:
        return "No first responses in the period."
    who = [
        f"{r['name']} <{r['email']}>" if r["name"] != r["email"] else str(r["email"])
        for r in report.staff
    ]
    width = max(len("staff"), *(len(w) for w in who))
    widths = [max(8, len(c.heading)) for c in cols]
    head = f"{'staff':<{width}}" + "".join(
        f"  {c.heading:>{w}}" for c, w in zip(cols, widths, strict=True)
    )
    lines = [head]
    for name, staff_row in zip(who, report.staff, strict=True):
        cells = [shown(value(staff_row, c.key), c.kind) for c in cols]
        lines.append(
            f"{name:<{width}}" + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)


def csv_text(report: Report) -> str:
    """One CSV table: a row per department, one for all (scope "all"), one per staff member
    (scope "staff", only the per-staff figures filled); a nested key is "backlog_by_age.x"."""
    cols = columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "name", "email", *(c.key for c in cols)])
    for scope, rows in (
        ("department", report.departments),
        ("all", (report.total,)),
        ("staff", report.staff),
    ):
        for r in rows:
            writer.writerow([scope, r["name"], r.get("email", ""), *(_csv(r, c) for c in cols)])
    return out.getvalue()


def _csv(row: Row, column: Column) -> str:
    found = value(row, column.key)
    return "" if found is None else str(found)
