"""Time spent (`#tiempo`) in the database: record an entry, read a ticket's, load a period's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailtickets.models import Customer, Ticket, TimeEntry
from mailtickets.report_time import Entry

_ENTRY = TimeEntry.__table__  # type: ignore[attr-defined]
_TICKET = Ticket.__table__  # type: ignore[attr-defined]
_CUSTOMER = Customer.__table__  # type: ignore[attr-defined]


def recorded(session: Session, ticket_id: int, message_id: str) -> bool:
    """Whether the mail `message_id` already recorded time on the ticket."""
    e = _ENTRY.c
    found = session.connection().execute(
        select(e.id).where(e.ticket_id == ticket_id, e.message_id == message_id).limit(1)
    )
    return found.first() is not None


def add_entry(
    session: Session, ticket_id: int, staff: str, minutes: int, at: datetime, message_id: str
) -> None:
    session.add(
        TimeEntry(ticket_id=ticket_id, staff=staff, minutes=minutes, at=at, message_id=message_id)
    )
    session.flush()  # a second look in the same transaction (`recorded`) must see it


def entries_of(session: Session, ticket_id: int) -> list[TimeEntry]:
    """A ticket's entries, oldest first, for `show`."""
    e = _ENTRY.c
    statement = select(TimeEntry).where(e.ticket_id == ticket_id).order_by(e.at, e.id)
    return list(session.scalars(statement))


def load_entries(
    session: Session, start: datetime, end: datetime, department: str | None
) -> list[Entry]:
    """Every entry recorded in [start, end), with its ticket's customer: one select."""
    e, t, c = _ENTRY.c, _TICKET.c, _CUSTOMER.c
    statement = (
        select(c.id, c.name, t.code, t.department, e.staff, e.minutes, e.at)
        .select_from(
            _ENTRY.join(_TICKET, e.ticket_id == t.id).join(_CUSTOMER, t.customer_id == c.id)
        )
        .where(e.at >= start, e.at < end)
        .order_by(e.at, e.id)
    )
    if department is not None:
        statement = statement.where(t.department == department)
    return [Entry(*row) for row in session.connection().execute(statement)]
