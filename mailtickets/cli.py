"""Command line (SPEC §2): parse arguments, run one command, map failures to exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from mailtickets import store
from mailtickets.allocator import return_big_buffers
from mailtickets.config import check_secrets, default_config_path, load_settings
from mailtickets.contacts_cli import contacts_parser, run_contacts
from mailtickets.daemon import CycleReport, Daemon, utc_now
from mailtickets.db import open_database, transaction
from mailtickets.db_cli import VersionAction, db_parser, run_db
from mailtickets.errors import ConfigError, PermanentError, TemporaryError
from mailtickets.quarantine_cli import quarantine_parser, run_quarantine
from mailtickets.report_cli import report_parser, run_report
from mailtickets.settings import Settings
from mailtickets.spam_cli import run_spam, spam_parser
from mailtickets.status import THRESHOLDS_HELP, run_status
from mailtickets.views import detail_text, ticket_detail, ticket_line, ticket_summary

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DESCRIPTION = (
    "Email-driven ticketing daemon: watches a support mailbox, makes each new mail a ticket, "
    "acknowledges it, tells staff and threads every reply into it."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailtickets", description=DESCRIPTION)
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument(
        "--config", type=Path, help="TOML file (default $MAILTICKETS_CONFIG, then ./config.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="the daemon, until SIGTERM")
    run.add_argument("--once", action="store_true", help="one full cycle, then exit")
    sweep = sub.add_parser("sweep", help="run the timers once, then deliver the outbox")
    sweep.add_argument("--at", help="as if the clock read this ISO 8601 instant (default: now)")
    tickets = sub.add_parser("tickets", help="list tickets")
    tickets.add_argument("--status")
    tickets.add_argument("--department")
    tickets.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="one ticket with its messages and events")
    show.add_argument("code")
    show.add_argument("--json", action="store_true")
    sub.add_parser("check", help="validate config, reach IMAP, SMTP and the database")
    status = sub.add_parser(
        "status",
        help="health for a monitor: exit 0 healthy, 1 with one line per problem",
        description="Per mailbox who watches it, its last successful fetch and backlog; "
        "outbox depth and oldest due mail; quarantine count; oldest unanswered ticket. "
        "Exit 0 healthy, 1 when something is stale or failing, one line per problem on "
        "stdout. " + THRESHOLDS_HELP,
    )
    status.add_argument("--json", action="store_true", help="one JSON object, with `problems`")
    report_parser(sub)
    contacts_parser(sub)
    quarantine_parser(sub)
    spam_parser(sub)
    db_parser(sub)
    demo = sub.add_parser("demo", help="the real daemon on embedded loopback servers")
    demo.add_argument("--keep", type=Path, help="keep the demo's files in this folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return_big_buffers()  # before any mail is read: peak memory follows the largest mail
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiosmtpd (demo) logs every SMTP command at INFO: keep only its warnings.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # alembic narrates each step at INFO; mailtickets.schema logs the one line that matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"mailtickets: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (TemporaryError, PermanentError) as exc:
        print(f"mailtickets: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        # `mailtickets tickets | head`: the reader left. Nothing is wrong with us, and
        # Python would print a traceback when it flushes stdout at exit: point it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailtickets.demo import run_demo

        return run_demo(args.keep)
    settings = load_settings(args.config or default_config_path())
    for warning in settings.warnings:
        print(f"mailtickets: warning: {warning}", file=sys.stderr)
    if args.command == "check":
        from mailtickets.check import run_check

        return run_check(settings)
    if args.command == "status":
        return run_status(settings, args.json)
    if args.command in ("run", "sweep"):
        check_secrets(settings)  # only the commands that log in read the mail secrets
    try:
        if args.command == "db":
            return run_db(settings.database_url, args)
        engine = open_database(settings.database_url)
    except ConfigError as exc:
        raise ConfigError(f"{settings.source}: {exc}") from None
    if args.command == "run":
        return _run(settings, engine, args.once)
    if args.command == "sweep":
        return _sweep(settings, engine, args.at)
    if args.command == "quarantine":
        return run_quarantine(engine, args)
    if args.command == "spam":
        return run_spam(engine, args)
    if args.command == "contacts":
        return run_contacts(engine, args)
    if args.command == "report":
        return run_report(settings, engine, args)
    if args.command == "tickets":
        return _tickets(engine, args.status, args.department, args.json)
    return _show(engine, args.code, args.json)


def _run(settings: Settings, engine: Engine, once: bool) -> int:
    if settings.unverified_senders:
        logging.getLogger("mailtickets.daemon").warning(settings.unverified_senders)
    daemon = Daemon(settings, engine)
    if not once:
        daemon.run_forever()
        return EXIT_OK
    report = daemon.cycle()
    daemon.close()
    print(summary_line(report))
    for error in report.errors:
        print(f"mailtickets: {error}", file=sys.stderr)
    return EXIT_FAILURE if report.errors else EXIT_OK


def _sweep(settings: Settings, engine: Engine, at: str | None) -> int:
    now = parse_instant(at, settings.tickets.tz) if at else utc_now()
    daemon = Daemon(settings, engine, clock=lambda: now)
    report = daemon.sweep()
    for fired in report.fired:
        print(fired.line())
    print(
        f"{len(report.fired)} timer(s) fired at {now.isoformat()}; mail sent {report.sent}, "
        f"retrying {report.retried}, failed {report.failed}"
    )
    for error in report.errors:
        print(f"mailtickets: {error}", file=sys.stderr)
    return EXIT_FAILURE if report.errors else EXIT_OK


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601; an instant without an offset is read in the site's time zone."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--at {text!r}: write an ISO 8601 instant like 2026-11-25T10:00:00+01:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


def summary_line(report: CycleReport) -> str:
    states: dict[str, int] = {}
    for result in report.results:
        states[result.state] = states.get(result.state, 0) + 1
    processed = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "nothing"
    fetched = (
        "not fetched (another worker watches the mailbox)"
        if report.skipped
        else f"fetched {report.saved} new ({report.duplicates} duplicate)"
    )
    return (
        f"{fetched}; processed: "
        f"{processed}; timers fired {len(report.fired)}; mail sent {report.sent}, "
        f"retrying {report.retried}, failed {report.failed}"
    )


def _tickets(engine: Engine, status: str | None, department: str | None, as_json: bool) -> int:
    with transaction(engine) as session:
        rows = [ticket_summary(session, t) for t in store.list_tickets(session, status, department)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(ticket_line(row))
        print(f"{len(rows)} ticket(s)", file=sys.stderr)
    return EXIT_OK


def _show(engine: Engine, code: str, as_json: bool) -> int:
    with transaction(engine) as session:
        ticket = store.ticket_by_code(session, code)
        if ticket is None:
            print(
                f"mailtickets: no ticket {code.upper()}; `mailtickets tickets` lists them",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        detail = ticket_detail(session, ticket)
    print(json.dumps(detail, ensure_ascii=False, indent=2) if as_json else detail_text(detail))
    return EXIT_OK
