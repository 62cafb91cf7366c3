"""One transaction's ticket writer and notifier, and what they share: settings, session, clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailtickets.notifier import Notifier
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.writer import TicketWriter


@dataclass(frozen=True)
class Work:
    """What a stage's handlers are given: `write` changes tickets, `tell` queues mail."""

    write: TicketWriter
    tell: Notifier

    @property
    def settings(self) -> Settings:
        return self.write.settings

    @property
    def session(self) -> Session:
        return self.write.session

    @property
    def now(self) -> datetime:
        return self.write.now


def open_work(settings: Settings, renderer: Renderer, session: Session, now: datetime) -> Work:
    """A writer and a notifier over `session`, both at `now`."""
    writer = TicketWriter(settings, session, now)
    return Work(writer, Notifier(writer, renderer))
