"""`mailtickets report`: options, the period and department asked for, and the output."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from mailtickets.daemon import utc_now
from mailtickets.db import transaction
from mailtickets.errors import ConfigError, PermanentError
from mailtickets.report import Report, build_report
from mailtickets.report_data import known_departments, load_history
from mailtickets.report_format import as_json, csv_text, text_table
from mailtickets.report_story import DepartmentRules, Period, Site
from mailtickets.report_time import build_time_report, time_csv, time_json, time_table
from mailtickets.report_time_data import load_entries
from mailtickets.routing import fold
from mailtickets.settings import Settings
from mailtickets.timers import calendar_for
from mailtickets.writer import SYSTEM

DEFAULT_DAYS = 30  # without --from: the 30 days ending with --to (today by default)


def report_parser(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="support figures for a period (docs/reports.md)",
        description="Tickets opened and closed, first response and resolution in business "
        "time, SLA breaches, reopen rate, share closed automatically and the backlog by age, "
        "per department and per staff member; with --time, the time spent per customer and staff "
        "member. Days are whole days in [tickets] timezone; "
        f"without --from, the {DEFAULT_DAYS} days ending with --to (default today).",
    )
    report.add_argument("--from", dest="first_day", metavar="DATE", help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="last_day", metavar="DATE", help="last day, YYYY-MM-DD")
    report.add_argument("--department", metavar="NAME", help="one department only")
    report.add_argument(
        "--time",
        action="store_true",
        help="time spent (#tiempo) per customer and staff member instead; --csv for invoicing",
    )
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object")
    output.add_argument("--csv", action="store_true", help="CSV: a row per department and staff")
    output.add_argument("--html", type=Path, metavar="FILE", help="write a page with charts")


def run_report(settings: Settings, engine: Engine, args: argparse.Namespace) -> int:
    """Print (or write) the report; bad options are a ConfigError (exit 2)."""
    now = utc_now()
    period = period_of(args.first_day, args.last_day, settings, now)
    if args.time:
        return _run_time_report(settings, engine, args, period)
    if args.html:
        from mailtickets.report_html import require_matplotlib

        require_matplotlib()
    with transaction(engine) as session:
        department = _department(args.department, settings, known_departments(session))
        history = load_history(session, period.start, period.end, department)
    report = build_report(history, site_of(settings), period, department)
    if args.json:
        print(json.dumps(as_json(report, now), ensure_ascii=False, indent=2))
    elif args.csv:
        sys.stdout.write(csv_text(report))
    elif args.html:
        _write_page(args.html, report)
    else:
        print(text_table(report))
    return 0


def _run_time_report(
    settings: Settings, engine: Engine, args: argparse.Namespace, period: Period
) -> int:
    """`report --time`: minutes per customer and per staff member recorded in the period."""
    if args.html:
        raise ConfigError("--time has no page: use --csv, --json or the table")
    with transaction(engine) as session:
        department = _department(args.department, settings, known_departments(session))
        entries = load_entries(session, period.start, period.end, department)
    names = {s.email: s.name for s in settings.staff}
    report = build_time_report(entries, names, period, department)
    if args.json:
        print(json.dumps(time_json(report), ensure_ascii=False, indent=2))
    elif args.csv:
        sys.stdout.write(time_csv(report))
    else:
        print(time_table(report))
    return 0


def period_of(first: str | None, last: str | None, settings: Settings, now: datetime) -> Period:
    """The days asked for; the last one defaults to today in the site's zone."""
    tz = settings.tickets.tz
    last_day = _date("--to", last) if last else now.astimezone(tz).date()
    first_day = _date("--from", first) if first else last_day - timedelta(days=DEFAULT_DAYS - 1)
    if first_day > last_day:
        raise ConfigError(f"--from {first_day} is after --to {last_day}: swap them")
    return Period(first_day, last_day, tz, now)


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: write a day as YYYY-MM-DD, e.g. 2026-11-23"
        ) from None


def _department(asked: str | None, settings: Settings, in_database: list[str]) -> str | None:
    """The department's own name, accents and case ignored; a removed department whose
    tickets remain can be asked for too."""
    if asked is None:
        return None
    names = [d.name for d in settings.departments]
    names += sorted(set(in_database) - set(names))
    found = next((n for n in names if fold(n) == fold(asked)), None)
    if found is None:
        raise ConfigError(
            f"--department {asked!r}: no such department; there are: {', '.join(names)}"
        )
    return found


def site_of(settings: Settings) -> Site:
    """The calendars and SLAs the daemon itself uses (timers.calendar_for), as plain data."""
    rules = {
        d.name: DepartmentRules(calendar_for(settings, d), d.first_response)
        for d in settings.departments
    }
    fallback = settings.default_department
    return Site(
        departments=tuple(d.name for d in settings.departments),
        rules=rules,
        default_rules=rules[fallback.name],
        staff={s.email: s.name for s in settings.staff},
        system_actor=SYSTEM,
    )


def _write_page(path: Path, report: Report) -> None:
    from mailtickets.report_html import page

    text = page(report)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PermanentError(f"--html {path}: cannot write it: {exc.strerror}") from None
    print(f"report written to {path}", file=sys.stderr)
