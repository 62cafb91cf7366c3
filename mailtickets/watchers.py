"""The daemon's mailboxes (SPEC §3 `[[mailboxes]]`): each with its own IMAP connection,
lease, checkpoint and failure state, so one that fails is retried with back-off while the
others go on; and one wait in which all of them IDLE at once."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from mailtickets.alerts import Alerts, is_refusal, login_key
from mailtickets.errors import TemporaryError
from mailtickets.ingest import IngestReport, Mailbox, SessionEnded
from mailtickets.settings import MailboxSettings
from mailtickets.watch import MailboxLease
from mailtickets.workers import Heartbeat

log = logging.getLogger("mailtickets.watchers")

# A failing mailbox is tried again after its poll interval (at least BACKOFF_FIRST), then
# twice as long each time, up to BACKOFF_CAP: a wrong password is not hammered (servers
# lock accounts out for that), and a server back up is found within minutes.
BACKOFF_FIRST = timedelta(seconds=15)
BACKOFF_CAP = timedelta(minutes=5)


def backoff_seconds(failures: int, poll: timedelta) -> float:
    """How long to leave a mailbox alone after its `failures`-th failure in a row."""
    first = max(poll, BACKOFF_FIRST).total_seconds()
    return float(min(first * 2 ** max(failures - 1, 0), BACKOFF_CAP.total_seconds()))


@dataclass
class Watcher:
    """One mailbox as the daemon watches it. `monotonic` is passed in for the tests."""

    box: MailboxSettings
    mailbox: Mailbox
    lease: MailboxLease
    alerts: Alerts | None = None
    monotonic: Callable[[], float] = time.monotonic
    failures: int = 0
    retry_at: float = 0.0  # monotonic; before it the mailbox is left alone
    error: str = ""
    _line: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        return self.box.name

    def watching(self) -> bool:
        """Hold the mailbox, taking it if it is free; a change is logged once. Off it, the
        IMAP connection is dropped: a process that does not hold it never touches it."""
        held = self.lease.hold()
        if held.line != self._line:
            log.info("%s", held.line)
            self._line = held.line
        if not held.ours:
            self.mailbox.close()
        return held.ours

    def due(self) -> bool:
        """False while a failure's back-off lasts."""
        return self.monotonic() >= self.retry_at

    def ingest(self) -> IngestReport:
        """Fetch what is new; a session the server ended is taken up again at once, once;
        a failure starts (or lengthens) the back-off and raises."""
        try:
            try:
                ingested = self.mailbox.ingest()
            except SessionEnded as exc:
                if not self.resumes(exc):
                    raise
                ingested = self.mailbox.ingest()  # connects again, with a fresh token
        except TemporaryError as exc:
            self.failed(str(exc), refused=is_refusal(exc))
            raise
        self.worked()
        if not ingested.stopped:
            self.lease.fetched()
        return ingested

    @property
    def login(self) -> str:
        """The mailbox's login as alerts name it ("imap:soporte")."""
        return login_key("imap", self.name)

    def failed(self, error: str, refused: bool = False) -> None:
        """Logged with the wait before the next try, kept for `status`, connection dropped;
        a `refused` credential also raises its alert (ops told once)."""
        self.failures += 1
        wait = backoff_seconds(self.failures, self.box.imap.poll_interval)
        self.retry_at = self.monotonic() + wait
        self.error = error
        self.mailbox.close()
        told = ""
        try:
            self.lease.failed(error)
            if refused and self.alerts is not None:
                told = self.alerts.refused(self.login, error)
        except Exception:  # the database may be what fails: the line below says the rest
            log.debug("could not record the mailbox error", exc_info=True)
        # One line per failure; the one that raises a refused credential's alert is an error.
        log.log(
            logging.ERROR if told else logging.WARNING,
            "mailbox %s: %s; failure %d in a row, trying again in %.0f s%s",
            self.name,
            error,
            self.failures,
            wait,
            told,
        )

    def resumes(self, ended: SessionEnded) -> bool:
        """Whether to reconnect at once after `ended`: yes, unless it was already failing
        (then the back-off decides). Counted as no failure, logged as information."""
        if self.failures:
            return False
        log.info("mailbox %s: %s; the session ended, connecting again", self.name, ended)
        return True

    def worked(self) -> None:
        if self.alerts is not None:
            self.alerts.working(self.login)
        if self.failures:
            log.info("mailbox %s: working again after %d failure(s)", self.name, self.failures)
        self.failures, self.retry_at, self.error = 0, 0.0, ""

    def close(self) -> None:
        """Log out and give up the mailbox, so the next worker takes it at once."""
        self.mailbox.close()
        self.lease.release()


def watchers_for(
    boxes: Sequence[MailboxSettings],
    engine: Engine,
    clock: Callable[[], datetime],
    worker: Heartbeat,
    alerts: Alerts | None = None,
) -> list[Watcher]:
    """A Watcher per configured mailbox, each checking its own lease before IMAP commands."""
    made: list[Watcher] = []
    for box in boxes:
        lease = MailboxLease(engine, box.imap.key, worker)
        mailbox = Mailbox(box.imap, engine, clock, may_touch=lease.still_ours)
        made.append(Watcher(box, mailbox, lease, alerts))
    return made


@dataclass(frozen=True)
class Woken:
    """What one wait found: the watchers with new mail, and those whose server failed."""

    ready: list[Watcher]
    failed: list[tuple[Watcher, TemporaryError]]


def wait_for_any(watchers: Sequence[Watcher], timeout: float) -> Woken:
    """Block until a server announces new mail in one of `watchers` (each IDLEs on its own
    connection, all waited on together) or `timeout` passes; without IDLE, just sleep."""
    ready: list[Watcher] = []
    failed: list[tuple[Watcher, TemporaryError]] = []
    idling: list[Watcher] = []
    for watcher in watchers:
        try:
            if not watcher.mailbox.can_idle():
                continue
            if watcher.mailbox.begin_idle():
                ready.append(watcher)  # mail came before IDLE could announce it
            else:
                idling.append(watcher)
        except TemporaryError as exc:
            failed.append((watcher, exc))
    if not idling and not ready:
        time.sleep(timeout)
        return Woken(ready, failed)
    if idling and not ready:
        poller = select.poll()
        for watcher in idling:
            poller.register(watcher.mailbox.client.socket().fileno(), select.POLLIN)
        poller.poll(timeout * 1000)  # a signal's _Stop leaves from here (daemon.py)
    for watcher in idling:
        try:
            if watcher.mailbox.end_idle():
                ready.append(watcher)
        except TemporaryError as exc:
            failed.append((watcher, exc))
    return Woken(ready, failed)
