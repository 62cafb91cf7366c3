"""Load what `report` needs from the database as plain data: four selects, none per ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from mailtickets.models import Event, Inbound, Message, Rating, Ticket
from mailtickets.report_story import (
    OPEN_STATUSES,
    Answer,
    History,
    Score,
    StatusEvent,
    TicketFacts,
)

_TICKET = Ticket.__table__  # type: ignore[attr-defined]
_EVENT = Event.__table__  # type: ignore[attr-defined]
_MESSAGE = Message.__table__  # type: ignore[attr-defined]
_INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_RATING = Rating.__table__  # type: ignore[attr-defined]


def in_scope(start: datetime, end: datetime, department: str | None) -> ColumnElement[bool]:
    """The tickets a period's figures can depend on: opened before its end, and opened in
    it, or open now, or changed since its start. Every status change and every answer
    touches `updated_at`, so a ticket untouched since before the start, and not open now,
    did nothing in the period and was not open at its end."""
    t = _TICKET.c
    scope = and_(
        t.created_at < end,
        or_(t.created_at >= start, t.status.in_(OPEN_STATUSES), t.updated_at >= start),
    )
    return scope if department is None else and_(scope, t.department == department)


def load_history(
    session: Session, start: datetime, end: datetime, department: str | None
) -> History:
    """The tickets in scope, their status events, their first relayed staff answers and the
    ratings recorded in the period (recording one touches its ticket: it is in scope)."""
    t, e, r = _TICKET.c, _EVENT.c, _RATING.c
    scope = in_scope(start, end, department)
    ids = select(t.id).where(scope)
    connection = session.connection()
    tickets = connection.execute(
        select(t.id, t.code, t.department, t.created_at, t.status).where(scope).order_by(t.id)
    )
    events = connection.execute(
        select(e.ticket_id, e.at, e.actor, e.detail)
        .where(e.kind == "status", e.ticket_id.in_(ids))
        .order_by(e.at, e.id)
    )
    ratings = connection.execute(
        select(r.ticket_id, r.at, r.score)
        .where(r.ticket_id.in_(ids), r.at >= start, r.at < end)
        .order_by(r.at, r.id)
    )
    return History(
        tuple(TicketFacts(*row) for row in tickets),
        tuple(StatusEvent(*row) for row in events),
        tuple(_first_answers(session, ids)),
        tuple(Score(*row) for row in ratings),
    )


def _first_answers(session: Session, ids: object) -> list[Answer]:
    """Per ticket, its first message that staff sent out with text: the answer relayed to
    the customer (a reply of commands only is stored as "out" with no text and relays
    nothing; internal notes are "internal"; our automatic mail is never a message). Its time
    is when the daemon processed it, on the same clock as the ticket's opening; the mail's
    Date header (the sender's clock) only where no inbound row says."""
    m, i = _MESSAGE.c, _INBOUND.c
    answered = func.coalesce(i.processed_at, m.date)
    ranked = (
        select(
            m.ticket_id,
            m.sender,
            i.processed_at,
            m.date,
            func.row_number().over(partition_by=m.ticket_id, order_by=(answered, m.id)).label("n"),
        )
        .select_from(_MESSAGE.outerjoin(_INBOUND, m.inbound_id == i.id))
        .where(m.direction == "out", m.text != "", m.ticket_id.in_(ids))
        .subquery()
    )
    r = ranked.c
    rows = session.connection().execute(
        select(r.ticket_id, r.sender, r.processed_at, r.date).where(r.n == 1)
    )
    return [
        Answer(ticket, processed or dated, sender.lower())
        for ticket, sender, processed, dated in rows
    ]


def known_departments(session: Session) -> list[str]:
    """Every department a ticket is in (some may no longer be configured)."""
    t = _TICKET.c
    return list(session.connection().scalars(select(t.department).distinct()))
