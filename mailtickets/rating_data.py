"""The rating table: record a closing's rating once, and read a ticket's ratings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailtickets.models import Rating

_RATING = Rating.__table__  # type: ignore[attr-defined]


def add_rating(session: Session, rating: Rating) -> bool:
    """Record `rating` of its closing; False when that closing already has one (a second
    rating, the same mail processed again, or another worker's at the same moment: the
    unique (ticket_id, closed_at) decides, in a savepoint of its own)."""
    if rated(session, rating.ticket_id, rating.closed_at):
        return False
    try:
        with session.begin_nested():
            session.add(rating)
    except IntegrityError:
        return False
    return True


def rated(session: Session, ticket_id: int, closed_at: datetime) -> bool:
    """Whether the ticket's closing at `closed_at` already has its rating."""
    r = _RATING.c
    found = session.connection().execute(
        select(r.id).where(r.ticket_id == ticket_id, r.closed_at == closed_at).limit(1)
    )
    return found.first() is not None


def ratings_of(session: Session, ticket_id: int) -> list[Rating]:
    """A ticket's ratings, oldest first (one per closing at most), for `show`."""
    r = _RATING.c
    return list(
        session.scalars(select(Rating).where(r.ticket_id == ticket_id).order_by(r.at, r.id))
    )
