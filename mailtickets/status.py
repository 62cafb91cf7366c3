"""`mailtickets status` (SPEC §2): the facts a monitor needs, and which of them are wrong.

The facts are read in one transaction into plain data (`read_facts`); what is wrong is a
pure function of them, a clock reading and the thresholds (`problems`); the edges print.
Thresholds follow the configuration, so a site polling every 5 minutes is not told its
mailbox is stale after 3 (see `thresholds`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as select_core
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from mailtickets.alerts import open_alerts
from mailtickets.db import open_database, transaction
from mailtickets.errors import TemporaryError
from mailtickets.models import Inbound, Outbox, Ticket, Worker
from mailtickets.settings import Settings
from mailtickets.watch import Holder, holder_of, watches, why_gone
from mailtickets.workers import STALE_AFTER, dead_claims, pid_space, utc_now

EXIT_HEALTHY, EXIT_PROBLEMS = 0, 1
UNPROCESSED = ("pending", "working")  # inbound rows fetched and not yet processed

# What `--help` and docs/scale-out.md say; `thresholds` is where they are computed.
THRESHOLDS_HELP = (
    "A problem is: no successful fetch for 3 poll intervals (at least 2 min); nobody "
    "holding a mailbox for 2 poll intervals (at least 30 s) since its last fetch; fetched "
    "mail unprocessed for 3 poll intervals (at least 5 min); outbox mail queued 20 outbox "
    "intervals ago (at least 15 min) and still unsent; due mail not tried for 4 outbox "
    "intervals (at least 2 min); mail claimed by a gone worker for as long."
)


@dataclass(frozen=True)
class Thresholds:
    fetch_stale: timedelta
    unheld: timedelta
    backlog_stale: timedelta
    outbox_waiting: timedelta
    outbox_overdue: timedelta


def thresholds(settings: Settings) -> Thresholds:
    """From `[imap] poll_interval` (the longest of the mailboxes') and `[timers]
    outbox_interval` (THRESHOLDS_HELP)."""
    poll = max(box.imap.poll_interval for box in settings.mailbox_list)
    outbox = settings.timers.outbox_interval
    return Thresholds(
        fetch_stale=max(3 * poll, timedelta(minutes=2)),
        # A worker's death takes up to 30 s to be noticed and acted on (SPEC §9).
        unheld=max(2 * poll, timedelta(seconds=30)),
        backlog_stale=max(3 * poll, timedelta(minutes=5)),
        # The back-off after a 4xx is 1, 2, 4, 8 min: 15 min is about four failed tries.
        outbox_waiting=max(20 * outbox, timedelta(minutes=15)),
        outbox_overdue=max(4 * outbox, timedelta(minutes=2)),
    )


@dataclass(frozen=True)
class MailboxFacts:
    key: str
    holder: Holder | None
    last_fetch_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    backlog: int
    oldest_backlog_at: datetime | None
    name: str = ""  # its [[mailboxes]] name ("default" for a lone [imap])

    @property
    def called(self) -> str:
        """How lines name it: "mailbox facturacion (login@host:port/INBOX)"."""
        return f"mailbox {self.name} ({self.key})" if self.name else f"mailbox {self.key}"


@dataclass(frozen=True)
class OldestMail:
    """The pending outbox mail queued first: how long it has waited, and why."""

    id: int
    kind: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    last_error: str


@dataclass(frozen=True)
class GoneClaims:
    worker_id: str
    why: str
    claims: int
    oldest_claim_age: timedelta


@dataclass(frozen=True)
class Facts:
    checked_at: datetime
    mailboxes: tuple[MailboxFacts, ...]
    outbox_pending: int
    outbox_due: int
    oldest_mail: OldestMail | None
    first_due_at: datetime | None  # the earliest next attempt of a pending mail
    gone_claims: tuple[GoneClaims, ...]
    quarantined: int
    oldest_unanswered: tuple[str, datetime] | None  # code, created_at of a ticket still new
    live_workers: int
    held_as_spam: int = 0  # information only (spam list): never a problem by itself
    refused: tuple[RefusedLogin, ...] = ()  # open alerts (alerts.py)


@dataclass(frozen=True)
class RefusedLogin:
    """A login whose credential is refused: nothing works until a person renews it."""

    login: str
    detail: str
    since: datetime


# --- what is wrong, pure -------------------------------------------------------------------


def problems(facts: Facts, limits: Thresholds) -> list[str]:
    """One line per thing stale or failing; [] when healthy."""
    now = facts.checked_at
    # First: retrying will not fix these, a person must (and at once, not after a delay).
    found = [
        f"{r.login}: credential refused since {_iso(r.since)} ({age(now - r.since)} ago): "
        f"{r.detail}"
        for r in facts.refused
    ]
    found += [
        line for mailbox in facts.mailboxes for line in _mailbox_problems(mailbox, now, limits)
    ]
    oldest = facts.oldest_mail
    if oldest and now - oldest.created_at > limits.outbox_waiting:
        why = f", last error: {oldest.last_error}" if oldest.last_error else ""
        found.append(
            f"outbox: oldest due mail waiting {age(now - oldest.created_at)} "
            f"({oldest.kind}, {oldest.attempts} attempt(s){why})"
        )
    if facts.first_due_at and now - facts.first_due_at > limits.outbox_overdue:
        found.append(
            f"outbox: {facts.outbox_due} mail(s) due for {age(now - facts.first_due_at)} and "
            "not tried: is any worker running?"
        )
    for gone in facts.gone_claims:
        if gone.oldest_claim_age > limits.outbox_overdue:
            found.append(
                f"outbox: {gone.claims} mail(s) claimed {age(gone.oldest_claim_age)} ago by "
                f"worker {gone.worker_id}, gone ({gone.why})"
            )
    return found


def _mailbox_problems(mailbox: MailboxFacts, now: datetime, limits: Thresholds) -> list[str]:
    found = []
    name = mailbox.called
    fetched = mailbox.last_fetch_at
    error = ""
    if mailbox.last_error and (fetched is None or (mailbox.last_error_at or now) >= fetched):
        error = f" (last error: {mailbox.last_error})"
    if fetched is None:
        found.append(f"{name}: never fetched{error}")
    elif now - fetched > limits.fetch_stale:
        found.append(f"{name}: no successful fetch for {age(now - fetched)}{error}")
    holder = mailbox.holder
    gone = why_gone(holder, now) if holder else ""
    # Right after a clean stop nobody holds it; a problem once no one has fetched for long.
    quiet = fetched is None or now - fetched > limits.unheld
    if (holder is None or gone) and quiet:
        last = f" (its holder {holder.worker_id} {gone})" if holder else ""
        found.append(f"{name}: nobody holds it{last}")
    if mailbox.oldest_backlog_at and now - mailbox.oldest_backlog_at > limits.backlog_stale:
        found.append(
            f"{name}: {mailbox.backlog} fetched mail(s) unprocessed, the oldest for "
            f"{age(now - mailbox.oldest_backlog_at)}"
        )
    return found


def age(span: timedelta) -> str:
    """A span as people say it: 45 s, 7 min, 3 h, 2 d."""
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# --- reading the facts ---------------------------------------------------------------------


def read_facts(
    session: Session, keys: list[str], now: datetime, names: dict[str, str] | None = None
) -> Facts:
    """Everything `status` reports, at `now`, for the mailboxes `keys` (`names`: key → the
    mailbox's name in the config)."""
    space = pid_space()
    rows = watches(session, keys)
    mailboxes = []
    for key in keys:
        row = rows.get(key)
        count, oldest = session.exec(
            select(func.count(), func.min(Inbound.fetched_at)).where(
                Inbound.mailbox == key, col(Inbound.state).in_(UNPROCESSED)
            )
        ).one()
        mailboxes.append(
            MailboxFacts(
                key,
                holder_of(session, key, space),
                row.last_fetch_at if row else None,
                row.last_error if row else "",
                row.last_error_at if row else None,
                int(count),
                _aware(oldest),
                (names or {}).get(key, ""),
            )
        )
    pending = col(Outbox.state) == "pending"
    outbox_pending, first_due = session.exec(
        select(func.count(), func.min(Outbox.next_attempt_at)).where(pending)
    ).one()
    outbox_due = session.exec(
        select(func.count()).where(pending, col(Outbox.next_attempt_at) <= now)
    ).one()
    first_due_at = _aware(first_due)
    return Facts(
        checked_at=now,
        mailboxes=tuple(mailboxes),
        outbox_pending=int(outbox_pending),
        outbox_due=int(outbox_due),
        oldest_mail=_oldest_mail(session),
        first_due_at=first_due_at if first_due_at and first_due_at <= now else None,
        gone_claims=tuple(
            GoneClaims(d.worker_id, d.why, d.claims, d.oldest_claim_age)
            for d in dead_claims(session, now)
        ),
        quarantined=int(
            session.exec(select(func.count()).where(col(Inbound.state) == "failed")).one()
        ),
        oldest_unanswered=_oldest_unanswered(session),
        live_workers=_live_workers(session, now),
        held_as_spam=int(
            session.exec(select(func.count()).where(col(Inbound.state) == "spam")).one()
        ),
        refused=tuple(RefusedLogin(a.key, a.detail, a.raised_at) for a in open_alerts(session)),
    )


def _oldest_mail(session: Session) -> OldestMail | None:
    found = (
        session.connection()
        .execute(
            select_core(
                col(Outbox.id),
                col(Outbox.kind),
                col(Outbox.created_at),
                col(Outbox.next_attempt_at),
                col(Outbox.attempts),
                col(Outbox.last_error),
            )
            .where(col(Outbox.state) == "pending")
            .order_by(col(Outbox.created_at), col(Outbox.id))
            .limit(1)
        )
        .first()
    )
    if found is None:
        return None
    mail_id, kind, created, due, attempts, error = found
    return OldestMail(mail_id or 0, kind, created, due, attempts, error)


def _oldest_unanswered(session: Session) -> tuple[str, datetime] | None:
    found = session.exec(
        select(Ticket.code, Ticket.created_at)
        .where(col(Ticket.status) == "new")
        .order_by(col(Ticket.created_at))
        .limit(1)
    ).first()
    return (found[0], found[1]) if found else None


def _live_workers(session: Session, now: datetime) -> int:
    query = select(func.count()).where(col(Worker.heartbeat_at) >= now - STALE_AFTER)
    return int(session.exec(query).one())


def _aware(value: Any) -> datetime | None:
    """Aggregates (min) bypass the column type: SQLite hands back naive UTC, or text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- output --------------------------------------------------------------------------------


def as_json(facts: Facts, found: list[str]) -> dict[str, Any]:
    """The same facts as the text, and the problems, for a monitor."""
    now = facts.checked_at
    oldest = facts.oldest_mail
    unanswered = facts.oldest_unanswered
    return {
        "checked_at": _iso(now),
        "healthy": not found,
        "problems": found,
        "mailboxes": [_mailbox_json(m, now) for m in facts.mailboxes],
        "refused_logins": [
            {"login": r.login, "detail": r.detail, "since": _iso(r.since)} for r in facts.refused
        ],
        "outbox": {
            "pending": facts.outbox_pending,
            "due": facts.outbox_due,
            "oldest_due_mail": None
            if oldest is None
            else {
                "id": oldest.id,
                "kind": oldest.kind,
                "created_at": _iso(oldest.created_at),
                "waiting_seconds": _seconds(now - oldest.created_at),
                "next_attempt_at": _iso(oldest.next_attempt_at),
                "attempts": oldest.attempts,
                "last_error": oldest.last_error,
            },
            "claimed_by_gone_workers": [
                {
                    "worker_id": g.worker_id,
                    "why": g.why,
                    "claims": g.claims,
                    "oldest_claim_seconds": _seconds(g.oldest_claim_age),
                }
                for g in facts.gone_claims
            ],
        },
        "quarantine": facts.quarantined,
        "held_as_spam": facts.held_as_spam,
        "oldest_unanswered_ticket": None
        if unanswered is None
        else {
            "code": unanswered[0],
            "created_at": _iso(unanswered[1]),
            "age_seconds": _seconds(now - unanswered[1]),
        },
        "live_workers": facts.live_workers,
    }


def _mailbox_json(mailbox: MailboxFacts, now: datetime) -> dict[str, Any]:
    holder = mailbox.holder
    return {
        "mailbox": mailbox.key,
        "name": mailbox.name,
        "holder": None
        if holder is None
        else {
            "worker_id": holder.worker_id,
            "host": holder.host,
            "pid": holder.pid,
            "since": _iso(holder.since),
            "heartbeat_at": _iso(holder.heartbeat_at),
            "alive": not why_gone(holder, now),
        },
        "last_fetch_at": _iso(mailbox.last_fetch_at),
        "last_error": mailbox.last_error,
        "last_error_at": _iso(mailbox.last_error_at),
        "backlog": mailbox.backlog,
        "oldest_backlog_at": _iso(mailbox.oldest_backlog_at),
    }


def text_lines(facts: Facts, found: list[str]) -> list[str]:
    """Problems first, one line each (or "healthy"), then the facts for a person."""
    now = facts.checked_at
    lines = list(found) or ["healthy: nothing stale or failing"]
    lines.append(f"--- status at {_iso(now)}")
    for mailbox in facts.mailboxes:
        holder = mailbox.holder
        gone = why_gone(holder, now) if holder else ""
        if holder is None:
            held = "nobody"
        elif gone:
            held = f"nobody (last held by worker {holder.worker_id}, which {gone})"
        else:
            held = f"worker {holder.worker_id} (pid {holder.pid} on {holder.host}) since "
            held += f"{_iso(holder.since)}"
        fetched = mailbox.last_fetch_at
        lines.append(f"{mailbox.called}: watched by {held}")
        lines.append(
            "  last successful fetch: "
            + (f"{_iso(fetched)} ({age(now - fetched)} ago)" if fetched else "never")
            + f"; backlog {mailbox.backlog}"
        )
        if mailbox.last_error:
            lines.append(f"  last error ({_iso(mailbox.last_error_at)}): {mailbox.last_error}")
    oldest = facts.oldest_mail
    waiting = f", oldest due mail waiting {age(now - oldest.created_at)}" if oldest else ""
    lines.append(f"outbox: {facts.outbox_pending} pending, {facts.outbox_due} due now{waiting}")
    lines.append(f"quarantine: {facts.quarantined} mail(s)")
    lines.append(f"held as spam: {facts.held_as_spam} mail(s) (`mailtickets spam list`)")
    unanswered = facts.oldest_unanswered
    lines.append(
        "oldest unanswered ticket: "
        + (f"{unanswered[0]}, {age(now - unanswered[1])} old" if unanswered else "none")
    )
    lines.append(f"workers alive: {facts.live_workers}")
    return lines


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


# --- the command ---------------------------------------------------------------------------


def mailbox_names(settings: Settings) -> dict[str, str]:
    """The mailboxes this configuration watches: key → name."""
    return {box.imap.key: box.name for box in settings.mailbox_list}


def run_status(settings: Settings, as_json_output: bool) -> int:
    """Print the status; exit 0 healthy, 1 with one line per problem (an unreachable
    database is one)."""
    now = utc_now()
    try:
        engine = open_database(settings.database_url)
        try:
            with transaction(engine) as session:
                names = mailbox_names(settings)
                facts = read_facts(session, list(names), now, names)
        finally:
            engine.dispose()
    except (TemporaryError, SQLAlchemyError) as exc:
        line = str(exc).splitlines()[0]
        if isinstance(exc, SQLAlchemyError):
            line = f"database: {line}"
        if as_json_output:
            print(json.dumps({"checked_at": _iso(now), "healthy": False, "problems": [line]}))
        else:
            print(line)
        return EXIT_PROBLEMS
    found = problems(facts, thresholds(settings))
    if as_json_output:
        print(json.dumps(as_json(facts, found), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write("\n".join(text_lines(facts, found)) + "\n")
    return EXIT_PROBLEMS if found else EXIT_HEALTHY
