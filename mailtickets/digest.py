"""What goes in the daily digest, and when it is due: plain tickets and a clock in (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailtickets.business_hours import BusinessCalendar
from mailtickets.report_story import BANDS, OPEN_STATUSES, band_of

# The two kinds of digest mail (also their template names).
DEPARTMENT, ASSIGNED = "digest", "digest_assigned"
# Tickets listed per section; the rest are counted ("and 12 more"), so a large backlog
# still gives a mail one can read.
LISTED = 30
BAND_KEYS = tuple(band.key for band in BANDS)


@dataclass(frozen=True)
class DigestTicket:
    """The columns of an open ticket that a digest reads."""

    code: str
    subject: str
    status: str
    priority: str
    department: str
    assignee: str
    created_at: datetime
    last_staff_at: datetime | None = None
    first_response_due: datetime | None = None
    remind_at: datetime | None = None
    reminder_sent_at: datetime | None = None


@dataclass(frozen=True)
class AtRisk:
    ticket: DigestTicket
    due: datetime
    overdue: bool


@dataclass(frozen=True)
class Closing:
    ticket: DigestTicket
    at: datetime


@dataclass(frozen=True)
class DepartmentDigest:
    """One department's sections: open tickets counted by age band, first answers due
    soon or late, tickets waiting for the customer, and those the auto-close will close."""

    department: str
    bands: tuple[tuple[str, int], ...]  # (band key, tickets), every band, in order
    at_risk: tuple[AtRisk, ...]
    waiting: tuple[DigestTicket, ...]
    closing: tuple[Closing, ...]

    @property
    def open_count(self) -> int:
        return sum(count for _key, count in self.bands)


# --- when -----------------------------------------------------------------------------------


def is_business_day(calendar: BusinessCalendar, day: date) -> bool:
    """A day the calendar opens at all: not a weekend without hours, a holiday or closed."""
    return bool(calendar.weekly.get(day.weekday())) and not calendar.is_closed(day)


def due_day(
    now: datetime, tz: ZoneInfo, hour: time, sends_on: Callable[[date], bool]
) -> date | None:
    """The local day whose digest is due at `now`: today once its hour has passed (late,
    if the daemon was down at the hour), never an earlier day; None before the hour or on
    a day that gets none. The hour is read on the day's own UTC offset (DST days too)."""
    today = now.astimezone(tz).date()
    if now < datetime.combine(today, hour, tzinfo=tz) or not sends_on(today):
        return None
    return today


# --- what -----------------------------------------------------------------------------------


def age_bands(tickets: Sequence[DigestTicket], now: datetime) -> tuple[tuple[str, int], ...]:
    """Open tickets per age band (calendar age, the report's bands), every band listed."""
    counts = {band.key: 0 for band in BANDS}
    for ticket in tickets:
        if ticket.status in OPEN_STATUSES:
            counts[band_of(now - ticket.created_at)] += 1
    return tuple(counts.items())


def sla_at_risk(
    tickets: Sequence[DigestTicket],
    now: datetime,
    calendar: BusinessCalendar,
    first_response: timedelta | None,
    within: timedelta,
) -> tuple[AtRisk, ...]:
    """Unanswered tickets whose first answer is due within `within` of business time (so
    Friday evening's risk counts Monday morning's hours), or already late; soonest first."""
    if first_response is None:
        return ()
    found = []
    for ticket in tickets:
        if ticket.status not in OPEN_STATUSES or ticket.last_staff_at is not None:
            continue
        # The stored due time is cleared once the breach was escalated: count it again.
        due = ticket.first_response_due or calendar.add(ticket.created_at, first_response)
        if due <= now or calendar.between(now, due) <= within:
            found.append(AtRisk(ticket, due, overdue=due <= now))
    return tuple(sorted(found, key=lambda r: r.due))


def waiting(tickets: Sequence[DigestTicket]) -> tuple[DigestTicket, ...]:
    """Tickets waiting for the customer's reply, longest waiting first."""
    found = [t for t in tickets if t.status == "waiting"]
    return tuple(sorted(found, key=lambda t: t.last_staff_at or t.created_at))


def closes_at(ticket: DigestTicket, now: datetime, close_after: timedelta) -> datetime | None:
    """When the auto-close will close a waiting ticket: `close_after` after its reminder
    left, or after the reminder still to come; None when nothing will close it."""
    if ticket.status != "waiting":
        return None
    if ticket.reminder_sent_at is not None:
        return ticket.reminder_sent_at + close_after
    if ticket.remind_at is not None:
        return max(ticket.remind_at, now) + close_after
    return None


def closing_by_tomorrow(
    tickets: Sequence[DigestTicket], now: datetime, tz: ZoneInfo, close_after: timedelta
) -> tuple[Closing, ...]:
    """Waiting tickets the auto-close will close before tomorrow (local) ends, soonest first."""
    end = datetime.combine(now.astimezone(tz).date() + timedelta(days=2), time(), tzinfo=tz)
    found = []
    for ticket in tickets:
        at = closes_at(ticket, now, close_after)
        if at is not None and at < end:
            found.append(Closing(ticket, at))
    return tuple(sorted(found, key=lambda c: c.at))


def assigned_to(tickets: Sequence[DigestTicket], email: str) -> tuple[DigestTicket, ...]:
    """Open tickets assigned to `email`, oldest first."""
    found = [t for t in tickets if t.status in OPEN_STATUSES and t.assignee == email]
    return tuple(sorted(found, key=lambda t: t.created_at))


def department_digest(
    department: str,
    tickets: Sequence[DigestTicket],
    now: datetime,
    calendar: BusinessCalendar,
    first_response: timedelta | None,
    within: timedelta,
    close_after: timedelta,
) -> DepartmentDigest:
    """Every section of `department`'s digest from the site's open tickets."""
    own = [t for t in tickets if t.department == department]
    return DepartmentDigest(
        department=department,
        bands=age_bands(own, now),
        at_risk=sla_at_risk(own, now, calendar, first_response, within),
        waiting=waiting(own),
        closing=closing_by_tomorrow(own, now, calendar.tz, close_after),
    )


# --- to whom, threaded ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One digest mail of the day: `kind` to `recipient`, about `department` ("" for the
    recipient's own assigned tickets)."""

    kind: str
    recipient: str
    department: str = ""


def targets(
    departments: Sequence[tuple[str, tuple[str, ...]]], staff: Sequence[str]
) -> tuple[Target, ...]:
    """Each department's digest to each of its recipients, then each staff member's own
    list; each recipient's mails in this order, which is also their thread's order."""
    found = [Target(DEPARTMENT, r, name) for name, recipients in departments for r in recipients]
    found += [Target(ASSIGNED, email) for email in staff]
    return tuple(dict.fromkeys(found))


def message_id(target: Target, day: date, domain: str) -> str:
    """The same for the same mail of the same day, whichever worker writes it: the outbox's
    unique Message-ID makes a second copy impossible, across restarts and workers alike."""
    key = f"{target.kind}\n{target.recipient.lower()}\n{target.department}"
    token = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return f"<digest.{day:%Y%m%d}.{token}@{domain}>"


@dataclass(frozen=True)
class Thread:
    message_id: str
    in_reply_to: str = ""
    references: tuple[str, ...] = ()


def threads(found: Sequence[Target], day: date, domain: str) -> dict[Target, Thread]:
    """Each recipient's mails of the day as one thread, the first mail its root; the day's
    date is in every id, so the next day starts a new thread. A department's digest is
    always sent and comes first, so a root is never a mail left out for being empty."""
    chains: dict[str, list[str]] = {}
    result = {}
    for target in found:
        chain = chains.setdefault(target.recipient, [])
        own = message_id(target, day, domain)
        result[target] = Thread(own, chain[-1] if chain else "", tuple(chain))
        chain.append(own)
    return result


def local_noon(day: date, tz: ZoneInfo) -> datetime:
    """The day as an aware datetime for the templates' date filters."""
    return datetime.combine(day, time(12), tzinfo=tz)
