"""Reminders, auto-close and first-response SLAs: due times from the database, claimed once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from mailtickets import store
from mailtickets.business_hours import BusinessCalendar, holiday_checker
from mailtickets.config import Department, Settings
from mailtickets.db import transaction
from mailtickets.effects import SYSTEM, Effects
from mailtickets.models import Ticket
from mailtickets.notify import Renderer
from mailtickets.people import escalation_recipients

log = logging.getLogger("mailtickets.timers")


@dataclass(frozen=True)
class Fired:
    kind: str  # reminder | autoclose | sla_breach
    code: str
    detail: str

    def line(self) -> str:
        return f"{self.kind:<10} {self.code}  {self.detail}"


@dataclass(frozen=True)
class Cutoffs:
    """What is due at `now`: each timer fires when its column is at or before its cutoff."""

    remind: datetime
    close: datetime  # reminder sent at or before this
    first_response: datetime


def cutoffs(now: datetime, close_after: timedelta) -> Cutoffs:
    """The pure half of a sweep: instants that make each kind of timer due."""
    return Cutoffs(remind=now, close=now - close_after, first_response=now)


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


class Sweeper:
    """One sweep: each due ticket is claimed by a conditional UPDATE before its mail is queued,
    so a second sweep or a second worker finds nothing left to do."""

    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer) -> None:
        self.settings, self.engine, self.renderer = settings, engine, renderer

    def sweep(self, now: datetime) -> list[Fired]:
        due = cutoffs(now, self.settings.tickets.close_after)
        limit = self.settings.timers.batch_size
        fired: list[Fired] = []
        # Only the timer column is searched, so its index alone is read: set_status clears
        # remind_at and reminder_sent_at whenever a ticket stops waiting, and the claim
        # below checks the status again.
        unanswered = (col(Ticket.last_staff_at).is_(None),)
        for kind, cutoff, extra in (
            ("reminder", due.remind, ()),
            ("autoclose", due.close, ()),
            ("sla_breach", due.first_response, unanswered),
        ):
            column = getattr(Ticket, COLUMNS[kind])
            with transaction(self.engine) as session:
                ids = store.due_ticket_ids(session, column, cutoff, limit, *extra)
            fired += [f for i in ids if (f := self._fire_safely(kind, i, cutoff, now))]
        for item in fired:
            log.info("timer %s", item.line())
        return fired

    def _fire_safely(
        self, kind: str, ticket_id: int, cutoff: datetime, now: datetime
    ) -> Fired | None:
        """One timer's failure (say, a broken site template) is logged; the others fire.
        Its claim was rolled back with it, so the next sweep tries again."""
        try:
            return self._fire(kind, ticket_id, cutoff, now)
        except Exception:
            log.exception(
                "timer %s for ticket id %s failed; will retry next sweep", kind, ticket_id
            )
            return None

    def _fire(self, kind: str, ticket_id: int, cutoff: datetime, now: datetime) -> Fired | None:
        with transaction(self.engine) as session:
            if not _claim(session, kind, ticket_id, cutoff, now):
                return None  # another sweep or worker got there first
            fx = Effects(self.settings, self.renderer, session, now)
            ticket = fx.ticket(ticket_id)
            detail = _ACTIONS[kind](fx, ticket)
            return Fired(kind, ticket.code, detail)


COLUMNS = {
    "reminder": "remind_at",
    "autoclose": "reminder_sent_at",
    "sla_breach": "first_response_due",
}


def _claim(session: Any, kind: str, ticket_id: int, cutoff: datetime, now: datetime) -> bool:
    """Clear the timer's column if it is still due: exactly one claimant sees rowcount 1."""
    name = COLUMNS[kind]
    values: dict[str, Any] = {name: None}
    if kind == "sla_breach":
        values["sla_escalated_at"] = now
    due = col(getattr(Ticket, name)) <= cutoff
    statement = update(Ticket).where(col(Ticket.id) == ticket_id, due).values(**values)
    if kind == "sla_breach":
        statement = statement.where(col(Ticket.status).in_(("new", "open", "waiting")))
    else:
        statement = statement.where(col(Ticket.status) == "waiting")
    result = session.execute(statement)
    session.expire_all()
    return getattr(result, "rowcount", 0) == 1


def _remind(fx: Effects, ticket: Ticket) -> str:
    recipients = fx.customer_recipients(ticket).everyone
    row = fx.queue_to_customer("reminder", ticket, fx.context(ticket))
    if row is None:
        # Nobody can be reminded (bounced, rate-limited): the close clock starts now.
        ticket.reminder_sent_at = fx.now
        fx.touch(ticket)
    else:
        ticket.reminder_outbox_id = row.id
    fx.event(
        ticket, "reminder", SYSTEM, f"no customer reply for {fx.settings.tickets.reminder_after}"
    )
    return f"reminder → {', '.join(recipients)}"


def _autoclose(fx: Effects, ticket: Ticket) -> str:
    fx.set_status(
        ticket, "closed", SYSTEM, f"no reply {fx.settings.tickets.close_after} after the reminder"
    )
    ticket.remind_at = None
    recipients = fx.customer_recipients(ticket).everyone
    fx.queue_to_customer("autoclose", ticket, fx.context(ticket))
    return f"closed, notice → {', '.join(recipients)}"


def _escalate(fx: Effects, ticket: Ticket) -> str:
    dept = fx.department(ticket.department)
    recipients = escalation_recipients(dept.staff, dept.lead)
    opened = ticket.created_at.astimezone(fx.settings.tickets.tz).strftime("%d/%m/%Y %H:%M")
    minutes = int(dept.first_response.total_seconds() // 60) if dept.first_response else 0
    context = fx.context(ticket, opened=opened, first_response_minutes=minutes)
    fx.queue("sla_breach", ticket, recipients, context, automatic="auto-generated")
    fx.event(
        ticket,
        "sla_breach",
        SYSTEM,
        f"no first answer within {dept.first_response} of business time",
    )
    return f"escalated → {', '.join(recipients)}"


_ACTIONS = {"reminder": _remind, "autoclose": _autoclose, "sla_breach": _escalate}
