"""Reminders, auto-close and first-response SLAs: due times from the database, claimed once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from mailtickets import store
from mailtickets.business_hours import BusinessCalendar, holiday_checker
from mailtickets.db import transaction
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
    kind: str  # reminder | autoclose | sla_breach
    code: str
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


class Sweeper:
    """One sweep: each due ticket is claimed by a conditional UPDATE before its mail is queued,
    so a second sweep or a second worker finds nothing left to do."""

    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer) -> None:
        self.settings, self.engine, self.renderer = settings, engine, renderer

    def sweep(self, now: datetime) -> list[Fired]:
        limit = self.settings.timers.batch_size
        fired: list[Fired] = []
        for timer in TIMERS:
            # Only the timer column is searched, so its index alone is read: set_status
            # clears remind_at and reminder_sent_at whenever a ticket stops waiting, and
            # the claim checks the status again.
            cutoff = now - timer.delay(self.settings)
            extra = (col(Ticket.last_staff_at).is_(None),) if timer.unanswered_only else ()
            column = getattr(Ticket, timer.column)
            with transaction(self.engine) as session:
                ids = store.due_ticket_ids(session, column, cutoff, limit, *extra)
            fired += [f for i in ids if (f := self._fire_safely(timer, i, cutoff, now))]
        for item in fired:
            log.info("timer %s", item.line())
        return fired

    def _fire_safely(
        self, timer: Timer, ticket_id: int, cutoff: datetime, now: datetime
    ) -> Fired | None:
        """One timer's failure (say, a broken site template) is logged; the others fire.
        Its claim was rolled back with it, so the next sweep tries again."""
        try:
            return self._fire(timer, ticket_id, cutoff, now)
        except Exception:
            log.exception(
                "timer %s for ticket id %s failed; will retry next sweep", timer.name, ticket_id
            )
            return None

    def _fire(self, timer: Timer, ticket_id: int, cutoff: datetime, now: datetime) -> Fired | None:
        with transaction(self.engine) as session:
            if not _claim(session, timer, ticket_id, cutoff, now):
                return None  # another sweep or worker got there first
            work = open_work(self.settings, self.renderer, session, now)
            ticket = work.write.ticket(ticket_id)
            return Fired(timer.name, ticket.code, timer.fire(work, ticket))


def _claim(session: Session, timer: Timer, ticket_id: int, cutoff: datetime, now: datetime) -> bool:
    """Clear the timer's column if it is still due: exactly one claimant sees rowcount 1."""
    values: dict[str, Any] = {timer.column: None}
    if timer.stamp:
        values[timer.stamp] = now
    statement = (
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(getattr(Ticket, timer.column)) <= cutoff)
        .where(col(Ticket.status).in_(timer.statuses))
        .values(**values)
    )
    result = session.execute(statement)
    session.expire_all()
    return getattr(result, "rowcount", 0) == 1


def delivery_hooks() -> dict[str, DeliveryHook]:
    """What the outbox runs when a timer's mail left: by kind of mail."""
    return {t.name: t.delivered for t in TIMERS if t.delivered is not None}


def _remind(work: Work, ticket: Ticket) -> str:
    recipients = work.tell.customer_recipients(ticket).everyone
    row = work.tell.queue_to_customer("reminder", ticket, work.tell.context(ticket))
    if row is None:
        # Nobody can be reminded (bounced, rate-limited): the close clock starts now.
        ticket.reminder_sent_at = work.now
        work.write.touch(ticket)
    else:
        ticket.reminder_outbox_id = row.id
    work.write.event(
        ticket, "reminder", SYSTEM, f"no customer reply for {work.settings.tickets.reminder_after}"
    )
    return f"reminder → {', '.join(recipients)}"


def _autoclose(work: Work, ticket: Ticket) -> str:
    work.write.set_status(
        ticket, "closed", SYSTEM, f"no reply {work.settings.tickets.close_after} after the reminder"
    )
    ticket.remind_at = None
    recipients = work.tell.customer_recipients(ticket).everyone
    work.tell.queue_to_customer("autoclose", ticket, work.tell.context(ticket))
    return f"closed, notice → {', '.join(recipients)}"


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


TIMERS: tuple[Timer, ...] = (
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
)
