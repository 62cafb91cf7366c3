"""The digest's database reads and its one write: a few statements a day, none per ticket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from mailtickets.digest import DigestTicket
from mailtickets.models import Outbox, Ticket
from mailtickets.store import OPEN_STATUSES, add_outbox_bodies

_TICKET = Ticket.__table__  # type: ignore[attr-defined]
_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    "code",
    "subject",
    "status",
    "priority",
    "department",
    "assignee",
    "created_at",
    "last_staff_at",
    "first_response_due",
    "remind_at",
    "reminder_sent_at",
)


def queued_already(session: Session, message_ids: Sequence[str]) -> set[str]:
    """Which of the day's digest Message-IDs are in the outbox (sent, or waiting to be)."""
    if not message_ids:
        return set()
    query = select(_OUTBOX.c.message_id).where(_OUTBOX.c.message_id.in_(list(message_ids)))
    return set(session.connection().execute(query).scalars())


def open_tickets(session: Session) -> list[DigestTicket]:
    """Every open ticket, in one query (the status index), as the digest's plain rows."""
    query = select(*(_TICKET.c[name] for name in _COLUMNS)).where(
        _TICKET.c.status.in_(OPEN_STATUSES)
    )
    rows = session.connection().execute(query.order_by(_TICKET.c.created_at))
    return [DigestTicket(**{**row._asdict(), "assignee": row.assignee or ""}) for row in rows]


def queue_once(session: Session, values: dict[str, Any]) -> bool:
    """Insert one outbox row unless its Message-ID is there already (another sweep or
    worker wrote it first): True when this call wrote it."""
    dialect = session.connection().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = {k: v for k, v in values.items() if k != "raw"}  # the bytes: outboxbody's
    statement = (
        maker(_OUTBOX)
        .values(row)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(_OUTBOX.c.id)
    )
    # RETURNING, not rowcount: the id is there only when this statement wrote the row.
    if session.connection().execute(statement).first() is None:
        return False
    add_outbox_bodies(session, [values])
    return True
