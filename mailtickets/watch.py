"""Who may touch a mailbox: one `run` process at a time, the others stay off it.

Each mailbox has a row in `mailbox_watch` naming its holder, a worker id (workers.py), and
since when. We chose a lease row tied to the worker heartbeat over a PostgreSQL advisory
lock held on a dedicated connection because:

- the heartbeat already decides when a worker is gone, for its outbox claims, by the same
  rules (silent for STALE_AFTER, no row, or its process ended on this machine); the mailbox
  follows them, so there is one notion of "dead" and one 30 s bound to document and test;
- it works on SQLite too (the tests, and the single-host sites), where there is no
  advisory lock, and it needs no connection held open for the process's life, which a
  pool, a restart of the database or a proxy like PgBouncer would silently drop, leaving
  the lock released while the process still thinks it holds it;
- the row is something to read: `status` says who watches a mailbox, since when, and how
  its last fetch went (`last_fetch_at`, `last_error`), from any host.

Taking is one conditional UPDATE, made only while the row names no one, or a holder that
is gone: of two workers trying at once, one wins. The holder keeps the mailbox as long as
its own heartbeat holds (Heartbeat.holds with the token taken when it took it): that stops
OWN_LEASE (8 s) after the last renewal, four seconds before anyone else may find it stale,
so a holder that checks before each IMAP command is off the mailbox before another can be
on it (clock skew between hosts must stay below those four seconds: run NTP). It also
reads the row again at most every RECHECK, in case an operator or a skewed clock gave it
away. A process that does not hold a mailbox opens no IMAP connection to it and retries
every RETRY, so a dead holder's mailbox is taken over within STALE_AFTER + RETRY + one beat,
well under SPEC §9's 30 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from mailtickets.db import changed, transaction
from mailtickets.models import MailboxWatch, Worker
from mailtickets.workers import HEARTBEAT_EVERY, STALE_AFTER, Heartbeat, has_ended

log = logging.getLogger("mailtickets.watch")

RETRY = timedelta(seconds=5)  # how often a process without the mailbox tries to take it
RECHECK = HEARTBEAT_EVERY  # how often a holder reads its row again before an IMAP command
ERROR_CHARS = 500  # of an error kept in the row: the first line is what matters


@dataclass(frozen=True)
class Holder:
    """Who a mailbox's row names, as plain data: its worker row's facts when it has one."""

    worker_id: str
    since: datetime | None
    host: str = ""
    pid: int | None = None
    heartbeat_at: datetime | None = None  # None: its worker row is gone
    ended: bool = False  # its process is known gone (it ran on this machine)


@dataclass(frozen=True)
class Verdict:
    """Whether a mailbox is ours, free to take (and why), or held by a live other worker."""

    ours: bool
    free: bool
    why: str


def judge(holder: Holder | None, me: str, now: datetime) -> Verdict:
    """Ours, free (no holder, or one that is gone), or another live worker's."""
    if holder is None:
        return Verdict(False, True, "nobody held it")
    if holder.worker_id == me:
        return Verdict(True, False, "ours")
    gone = why_gone(holder, now)
    if gone:
        return Verdict(False, True, f"its holder {holder.worker_id} {gone}")
    return Verdict(
        False,
        False,
        f"held by worker {holder.worker_id} (pid {holder.pid} on "
        f"{holder.host}) since {_iso(holder.since)}",
    )


def why_gone(holder: Holder, now: datetime) -> str:
    """Why a holder no longer counts ("" while it is alive), as workers.py judges a worker."""
    if holder.heartbeat_at is None:
        return "has no worker row"
    silent = now - holder.heartbeat_at
    if silent > STALE_AFTER:
        return f"is silent for {int(silent.total_seconds())} s"
    return "has ended (its process is gone)" if holder.ended else ""


def _iso(when: datetime | None) -> str:
    return when.isoformat(timespec="seconds") if when else "?"


@dataclass(frozen=True)
class Holding:
    """What an attempt to hold a mailbox found: whether it is ours, and a line saying so."""

    ours: bool
    line: str


class MailboxLease:
    """This process's claim on one mailbox, kept only while its heartbeat holds."""

    def __init__(
        self,
        engine: Engine,
        key: str,
        worker: Heartbeat,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine, self.key, self.worker, self.monotonic = engine, key, worker, monotonic
        self._token: int | None = None  # the heartbeat's token when we last confirmed it
        self._confirmed = float("-inf")
        self._row_made = False

    def hold(self) -> Holding:
        """Keep the mailbox, or take it when it is free; never from a live holder."""
        token = self.worker.token()
        if not self.worker.holds(token):
            self._token = None
            return Holding(
                False, f"mailbox {self.key}: our heartbeat is not fresh: not watching it"
            )
        try:
            verdict = self._take_if_free()
        except SQLAlchemyError as exc:
            self._token = None
            why = str(exc).splitlines()[0]
            return Holding(False, f"mailbox {self.key}: database: {why}: not watching it")
        if verdict.ours and self.worker.holds(token):
            self._token, self._confirmed = token, self.monotonic()
            return Holding(True, f"mailbox {self.key}: watched by this worker {self.worker.id}")
        self._token = None
        return Holding(False, f"mailbox {self.key}: {verdict.why}: not touching it")

    def still_ours(self) -> bool:
        """Before each IMAP command: our heartbeat unbroken since we held it, and the row
        (read again after RECHECK) still naming us."""
        if self._token is None or not self.worker.holds(self._token):
            self._token = None
            return False
        if self.monotonic() - self._confirmed < RECHECK.total_seconds():
            return True
        try:
            with transaction(self.engine) as session:
                row = session.get(MailboxWatch, self.key)
        except SQLAlchemyError:
            row = None  # cannot tell: then it is not ours to touch
        if row is None or row.holder != self.worker.id:
            self._token = None
            return False
        self._confirmed = self.monotonic()
        return self.worker.holds(self._token)

    def release(self) -> None:
        """Give the mailbox up (a clean stop), so the next worker need not wait."""
        self._token = None
        try:
            with transaction(self.engine) as session:
                release(session, self.key, self.worker.id)
        except SQLAlchemyError as exc:  # the others find our worker row gone soon enough
            log.warning("mailbox %s: could not give it up: %s", self.key, exc)

    def fetched(self) -> None:
        """Record a successful fetch (what `status` calls the last one)."""
        with transaction(self.engine) as session:
            record_fetch(session, self.key, self.worker.wall())

    def failed(self, error: str) -> None:
        """Record why touching the mailbox failed."""
        with transaction(self.engine) as session:
            record_error(session, self.key, error, self.worker.wall())

    def _take_if_free(self) -> Verdict:
        if not self._row_made:
            make_row(self.engine, self.key)
            self._row_made = True
        now = self.worker.wall()
        with transaction(self.engine) as session:
            holder = holder_of(session, self.key, self.worker.space)
            verdict = judge(holder, self.worker.id, now)
            if verdict.free and take(session, self.key, self.worker.id, now, holder):
                log.info(
                    "mailbox %s: now watched by worker %s (%s)",
                    self.key,
                    self.worker.id,
                    verdict.why,
                )
                return Verdict(True, False, "taken")
        return verdict


# --- queries ------------------------------------------------------------------------------


def make_row(engine: Engine, key: str) -> None:
    """The mailbox's row, held by no one, unless it exists (another worker may make it)."""
    try:
        with transaction(engine) as session:
            if session.get(MailboxWatch, key) is None:
                session.add(MailboxWatch(mailbox=key))
    except IntegrityError:
        pass  # made by another worker at the same moment: the row is there


def holder_of(session: Session, key: str, space: str) -> Holder | None:
    """Who the row names, with its worker's facts; None when it names no one."""
    row = session.get(MailboxWatch, key)
    if row is None or row.holder is None:
        return None
    worker = session.get(Worker, row.holder)
    if worker is None:
        return Holder(row.holder, row.held_since)
    return Holder(
        row.holder,
        row.held_since,
        worker.host,
        worker.pid,
        worker.heartbeat_at,
        has_ended(worker, space),
    )


def take(session: Session, key: str, me: str, now: datetime, seen: Holder | None) -> bool:
    """One conditional UPDATE: ours if the row still names no one, or still the gone holder
    we judged (and, unless its process has ended, that holder is still silent or rowless)."""
    statement = update(MailboxWatch).where(col(MailboxWatch.mailbox) == key)
    statement = statement.where(_still_free(seen, now))
    result = session.execute(
        statement.values(holder=me, held_since=now).execution_options(synchronize_session=False)
    )
    session.expire_all()
    return changed(result) == 1


def _still_free(seen: Holder | None, now: datetime) -> ColumnElement[bool]:
    holder = col(MailboxWatch.holder)
    if seen is None:
        return holder.is_(None)
    if seen.ended:  # its process is gone: nothing it does can make it live again
        return holder == seen.worker_id
    # Judged silent or rowless: only if it still is (a beat since then keeps it its own).
    live = select(Worker.id).where(col(Worker.heartbeat_at) >= now - STALE_AFTER)
    return and_(holder == seen.worker_id, holder.not_in(live))


def release(session: Session, key: str, me: str) -> None:
    session.execute(
        update(MailboxWatch)
        .where(col(MailboxWatch.mailbox) == key, col(MailboxWatch.holder) == me)
        .values(holder=None, held_since=None)
        .execution_options(synchronize_session=False)
    )


def record_fetch(session: Session, key: str, at: datetime) -> None:
    session.execute(
        update(MailboxWatch)
        .where(col(MailboxWatch.mailbox) == key)
        .values(last_fetch_at=at)
        .execution_options(synchronize_session=False)
    )


def record_error(session: Session, key: str, error: str, at: datetime) -> None:
    first_line = (error.strip().splitlines() or ["?"])[0][:ERROR_CHARS]
    session.execute(
        update(MailboxWatch)
        .where(col(MailboxWatch.mailbox) == key)
        .values(last_error=first_line, last_error_at=at)
        .execution_options(synchronize_session=False)
    )


def watches(session: Session, keys: list[str]) -> dict[str, MailboxWatch]:
    """The rows of `keys` that exist, by key (for `status`)."""
    query = select(MailboxWatch).where(col(MailboxWatch.mailbox).in_(keys))
    return {row.mailbox: row for row in session.exec(query)}
