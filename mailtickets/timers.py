"""Reminders, auto-close, first-response SLAs and the daily digest: due from the database,
claimed once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from mailtickets import digest_job, store
from mailtickets.business_hours import BusinessCalendar, holiday_checker
from mailtickets.db import changed, transaction
from mailtickets.models import Ticket
from mailtickets.outbox import DeliveryHook
from mailtickets.people import escalation_recipients
from mailtickets.render import Renderer
from mailtickets.settings import Department, Settings
from mailtickets.work import Work, open_work
from mailtickets.writer import SYSTEM

log = logging.getLogger("mailtickets.timers")


@dataclass(frozen=True)
class Fired:
    kind: str  # reminder | autoclose | sla_breach | digest | digest_assigned
    code: str  # the ticket's code; a digest's recipient
    detail: str

    def line(self) -> str:
        return f"{self.kind:<10} {self.code}  {self.detail}"


def calendar_for(settings: Settings, department: Department) -> BusinessCalendar:
    """The department's business hours, else the site's, with holidays and closed dates."""
    hours = settings.hours
    return BusinessCalendar(
        tz=settings.tickets.tz,
        weekly=department.hours or hours.weekly,
        is_closed=holiday_checker(
            hours.holidays_country, hours.holidays_subdiv, hours.closed_dates
        ),
    )


def first_response_due(settings: Settings, department: Department, opened: datetime) -> datetime:
    """When the first answer is due, counted in the department's business hours."""
    assert department.first_response is not None
    return calendar_for(settings, department).add(opened, department.first_response)


@dataclass(frozen=True)
class Timer:
    """One kind of timer, due when its indexed `column` is at or before `now - delay`.

    Firing clears the column in a conditional UPDATE (only for tickets in `statuses`), so
    exactly one sweep or worker fires it; `stamp` names a column set to the firing time;
    `delivered` runs when the relay accepted (or finally refused) the mail it queued, the
    outbox knowing nothing of tickets. A new timer is one more entry in TIMERS.
    """

    name: str  # also the kind of the mail it queues
    description: str
    column: str
    statuses: tuple[str, ...]
    fire: Callable[[Work, Ticket], str]
    delay: Callable[[Settings], timedelta] = lambda _settings: timedelta()
    unanswered_only: bool = False
    stamp: str = ""
    delivered: DeliveryHook | None = None


@dataclass(frozen=True)
class DailyTimer:
    """A timer about no one ticket (the daily digest): `run` finds what is due at `now` and
    claims it itself (the digest by the outbox's unique Message-ID)."""

    name: str
    description: str
    run: Callable[[Sweeper, datetime], list[Fired]]
    delivered: DeliveryHook | None = None


class Sweeper:
    """One sweep: each due ticket is claimed by a conditional UPDATE before its mail is queued,
    so a second sweep or a second worker finds nothing left to do. The due tickets of a timer
    share one transaction, each in its own savepoint: a timer that fails (say, a broken site
    template) rolls back its claim and its mail alone, and is tried again next sweep."""

    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer) -> None:
        self.settings, self.engine, self.renderer = settings, engine, renderer

    def sweep(self, now: datetime) -> list[Fired]:
        limit = self.settings.timers.batch_size
        fired: list[Fired] = []
        for timer in TIMERS:
            if isinstance(timer, DailyTimer):
                fired += self._run_daily(timer, now)
                continue
            # Only the timer column is searched, so its index alone is read: set_status
            # clears remind_at and reminder_sent_at whenever a ticket stops waiting, and
            # the claim checks the status again.
            cutoff = now - timer.delay(self.settings)
            extra = (col(Ticket.last_staff_at).is_(None),) if timer.unanswered_only else ()
            column = getattr(Ticket, timer.column)
            with transaction(self.engine) as session:
                ids = store.due_ticket_ids(session, column, cutoff, limit, *extra)
            for start in range(0, len(ids), PER_TRANSACTION):
                fired += self._fire_batch(timer, ids[start : start + PER_TRANSACTION], cutoff, now)
        for item in fired:
            log.info("timer %s", item.line())
        return fired

    def _run_daily(self, timer: DailyTimer, now: datetime) -> list[Fired]:
        """A daily timer that fails (a broken site template) queued nothing: next sweep."""
        try:
            return timer.run(self, now)
        except Exception:  # stage boundary: its transaction was rolled back
            log.exception("timer %s failed; will retry next sweep", timer.name)
            return []

    def _fire_batch(
        self, timer: Timer, ticket_ids: list[int], cutoff: datetime, now: datetime
    ) -> list[Fired]:
        """Fire `ticket_ids` together; if anything of that fails (a broken site template for
        one ticket, say), the batch is rolled back whole and fired one ticket at a time, so
        the failure costs only its own ticket."""
        try:
            return self._fire_together(timer, ticket_ids, cutoff, now)
        except Exception as exc:  # stage boundary: nothing of the batch was kept
            log.warning(
                "timer %s: a batch of %d tickets failed together (%s: %s); one at a time now",
                timer.name,
                len(ticket_ids),
                exc.__class__.__name__,
                exc,
            )
        return self._fire_one_by_one(timer, ticket_ids, cutoff, now)

    def _fire_together(
        self, timer: Timer, ticket_ids: list[int], cutoff: datetime, now: datetime
    ) -> list[Fired]:
        """One transaction: the due tickets claimed by one UPDATE, what their notices need
        read in a few queries, their rows written by one executemany per table. The cost of
        a sweep was the dozen statements per ticket this replaces."""
        fired: list[Fired] = []
        with transaction(self.engine) as session:
            _begin_writing(session)
            due = [t for t in _lock_tickets(session, ticket_ids) if _is_due(timer, t, cutoff)]
            if not due:
                return []
            _claim_all(session, timer, due, cutoff, now)
            work = open_work(self.settings, self.renderer, session, now)
            work.tell.know(due)
            with store.deferring(session):
                for ticket in due:
                    fired.append(Fired(timer.name, ticket.code, timer.fire(work, ticket)))
        return fired

    def _fire_one_by_one(
        self, timer: Timer, ticket_ids: list[int], cutoff: datetime, now: datetime
    ) -> list[Fired]:
        """Claim and fire each of `ticket_ids` in one transaction, a savepoint each; what
        fired, once committed (nothing when the commit failed: all is due again)."""
        fired: list[Fired] = []
        try:
            with transaction(self.engine) as session:
                _begin_writing(session)
                for ticket in _lock_tickets(session, ticket_ids):
                    if item := self._fire_safely(session, timer, ticket, cutoff, now):
                        fired.append(item)
                    session.expunge(ticket)  # done with: the session stays small
        except Exception:  # stage boundary: the claims were rolled back with the rest
            log.exception(
                "timer %s: a batch of %d tickets failed to commit; will retry next sweep",
                timer.name,
                len(ticket_ids),
            )
            return []
        return fired

    def _fire_safely(
        self, session: Session, timer: Timer, ticket: Ticket, cutoff: datetime, now: datetime
    ) -> Fired | None:
        """One timer's failure (say, a broken site template) is logged; the others fire.
        Its claim is rolled back with its savepoint, so the next sweep tries again."""
        code = ticket.code  # read now: a rolled-back savepoint expires what it changed
        try:
            with session.begin_nested():
                return self._fire(session, timer, ticket, cutoff, now)
        except Exception:
            log.exception("timer %s for ticket %s failed; will retry next sweep", timer.name, code)
            return None

    def _fire(
        self, session: Session, timer: Timer, ticket: Ticket, cutoff: datetime, now: datetime
    ) -> Fired | None:
        if not _claim(session, timer, ticket, cutoff, now):
            return None  # another sweep or worker got there first, or it is no longer due
        work = open_work(self.settings, self.renderer, session, now)
        fired = Fired(timer.name, ticket.code, timer.fire(work, ticket))
        session.flush()  # inside the savepoint: a failing write costs this ticket only
        return fired


# Due tickets per transaction: the commit (and, in a big SQLite file, the WAL checkpoint it
# may run) and the batch's look-ups are paid once for many, and on SQLite the write lock
# is held for about this many tickets' work (under a tenth of a second), not a sweep's.
# 100 cost 0.50-0.52 s for 1,000 reminders among 1,000,000 tickets; 250, 0.35-0.42 s.
PER_TRANSACTION = 250


def _begin_writing(session: Session) -> None:
    """Open the transaction now. pysqlite begins one only before a write, and a SAVEPOINT
    taken outside a transaction is committed by its RELEASE: without this, each ticket's
    savepoint would commit on its own. IMMEDIATE takes SQLite's write lock up front, as the
    first claim would, so the transaction never has to upgrade a stale read."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _lock_tickets(session: Session, ticket_ids: list[int]) -> list[Ticket]:
    """The batch's tickets in one query, oldest due first; loading them one by one cost
    more than firing them. They cannot change under the batch: on SQLite the transaction
    holds the write lock (see _begin_writing); elsewhere the rows are locked, and rows a
    concurrent sweep holds are skipped (they are its to fire). Each is still claimed."""
    query = select(Ticket).where(col(Ticket.id).in_(ticket_ids)).with_for_update(skip_locked=True)
    by_id = {t.id: t for t in session.exec(query)}
    return [by_id[i] for i in ticket_ids if i in by_id]


def _claim(session: Session, timer: Timer, ticket: Ticket, cutoff: datetime, now: datetime) -> bool:
    """Clear the timer's column if it is still due: exactly one claimant sees rowcount 1.
    A Core statement: the ORM's bulk UPDATE (synchronising the session, compiling afresh)
    cost more than all the rest of the claim."""
    session.flush()  # what the ORM holds is written before the row is claimed
    params = {"claim_id": ticket.id, "claim_cutoff": cutoff, "claim_now": now}
    result = session.connection().execute(_claim_statement(timer), params)
    if changed(result) != 1:
        return False
    _loaded(ticket, **{timer.column: None, **({timer.stamp: now} if timer.stamp else {})})
    return True


def _is_due(timer: Timer, ticket: Ticket, cutoff: datetime) -> bool:
    """What the timer's claim checks, on a ticket already locked for this transaction."""
    due = getattr(ticket, timer.column)
    return due is not None and due <= cutoff and ticket.status in timer.statuses


class _NotClaimed(Exception):
    """A locked ticket that the claim found changed: the batch goes one ticket at a time."""


def _claim_all(
    session: Session, timer: Timer, tickets: list[Ticket], cutoff: datetime, now: datetime
) -> None:
    """Claim every one of `tickets` with one UPDATE; they are locked (see _lock_tickets),
    so each is claimed unless the database disagrees with what was read, which raises."""
    params = {"claim_ids": [t.id for t in tickets], "claim_cutoff": cutoff, "claim_now": now}
    result = session.connection().execute(_claim_all_statement(timer), params)
    if changed(result) != len(tickets):
        raise _NotClaimed(f"{getattr(result, 'rowcount', 0)} of {len(tickets)} tickets claimed")
    stamp = {timer.stamp: now} if timer.stamp else {}
    for ticket in tickets:
        _loaded(ticket, **{timer.column: None, **stamp})


def _loaded(ticket: Ticket, **values: Any) -> None:
    """Tell the ORM that the row already holds `values` (written by a Core UPDATE), so
    the object reads them and has nothing of them to write back."""
    for name, value in values.items():
        set_committed_value(ticket, name, value)


_TICKET = Ticket.__table__  # type: ignore[attr-defined]


@cache
def _claim_statement(timer: Timer) -> Any:
    """The timer's claim of one ticket, built once: the same statement object is found in
    SQLAlchemy's compiled cache by identity instead of being rebuilt for every ticket."""
    return _claim_where(timer, _TICKET.c.id == bindparam("claim_id"))


@cache
def _claim_all_statement(timer: Timer) -> Any:
    """The timer's claim of a batch of tickets, built once."""
    return _claim_where(timer, _TICKET.c.id.in_(bindparam("claim_ids", expanding=True)))


def _claim_where(timer: Timer, which: Any) -> Any:
    """Clear the timer's column (and set its stamp) where `which` is still due."""
    column = _TICKET.c[timer.column]
    values: dict[str, Any] = {timer.column: None}
    if timer.stamp:
        values[timer.stamp] = bindparam("claim_now", type_=_TICKET.c[timer.stamp].type)
    return (
        update(_TICKET)
        .where(which, column <= bindparam("claim_cutoff"))
        .where(_TICKET.c.status.in_(timer.statuses))
        .values(values)
    )


def delivery_hooks() -> dict[str, DeliveryHook]:
    """What the outbox runs when a timer's mail left: by kind of mail."""
    return {t.name: t.delivered for t in TIMERS if t.delivered is not None}


def _remind(work: Work, ticket: Ticket) -> str:
    recipients = work.tell.customer_recipients(ticket)
    row = work.tell.queue_to_customer("reminder", ticket, work.tell.context(ticket), recipients)
    if row is None:
        # Nobody can be reminded (bounced, rate-limited): the close clock starts now.
        ticket.reminder_sent_at = work.now
        work.write.touch(ticket)
    else:
        assert ticket.id is not None
        store.set_reminder_mail(work.session, ticket.id, row.message_id)
    work.write.event(
        ticket, "reminder", SYSTEM, f"no customer reply for {work.settings.tickets.reminder_after}"
    )
    return f"reminder → {', '.join(recipients.everyone)}"


def _autoclose(work: Work, ticket: Ticket) -> str:
    work.write.set_status(
        ticket, "closed", SYSTEM, f"no reply {work.settings.tickets.close_after} after the reminder"
    )
    ticket.remind_at = None
    recipients = work.tell.customer_recipients(ticket)
    work.tell.queue_to_customer("autoclose", ticket, work.tell.context(ticket), recipients)
    return f"closed, notice → {', '.join(recipients.everyone)}"


def _escalate(work: Work, ticket: Ticket) -> str:
    dept = work.settings.department(ticket.department)
    recipients = escalation_recipients(dept.staff, dept.lead)
    opened = ticket.created_at.astimezone(work.settings.tickets.tz)
    minutes = int(dept.first_response.total_seconds() // 60) if dept.first_response else 0
    context = work.tell.context(ticket, opened=opened, first_response_minutes=minutes)
    work.tell.queue("sla_breach", ticket, recipients, context, automatic="auto-generated")
    work.write.event(
        ticket,
        "sla_breach",
        SYSTEM,
        f"no first answer within {dept.first_response} of business time",
    )
    return f"escalated → {', '.join(recipients)}"


def _digest(sweeper: Sweeper, now: datetime) -> list[Fired]:
    settings = sweeper.settings
    sent = digest_job.send_due(
        settings, sweeper.engine, sweeper.renderer, now, lambda d: calendar_for(settings, d)
    )
    return [Fired(s.kind, s.recipient, s.detail) for s in sent]


TIMERS: tuple[Timer | DailyTimer, ...] = (
    Timer(
        "reminder",
        "a waiting ticket with no customer reply for reminder_after",
        column="remind_at",
        statuses=("waiting",),
        fire=_remind,
        delivered=store.mark_reminder_sent,
    ),
    Timer(
        "autoclose",
        "closed close_after after the reminder was sent, still without a reply",
        column="reminder_sent_at",
        statuses=("waiting",),
        fire=_autoclose,
        delay=lambda settings: settings.tickets.close_after,
    ),
    Timer(
        "sla_breach",
        "no first answer within the department's first_response (business time)",
        column="first_response_due",
        statuses=store.OPEN_STATUSES,
        fire=_escalate,
        unanswered_only=True,
        stamp="sla_escalated_at",
    ),
    DailyTimer(
        "digest",
        "each department's and each staff member's daily digest, once a day per recipient",
        run=_digest,
    ),
)
