"""SQLite's write-ahead log copied back into the database file from a thread of its own.

By default SQLite checkpoints inside the commit that takes the log past 1,000 pages, so
every few commits the daemon's pipeline waits while the log is copied and synced: about a
tenth of the time of ingesting a backlog. While a `Checkpoints` is entered, a thread does
it instead (the sqlite3 module lets go of the GIL while SQLite copies and syncs), and the
engine's own connections checkpoint only if the log reaches SAFETY_NET_PAGES, should the
thread be stuck. It also makes commits durable sooner: with `synchronous=NORMAL` a commit
is synced to disk at the next checkpoint, which a quiet daemon reached only every 1,000
pages and now within a second. Nothing changes for PostgreSQL or an in-memory database.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from mailtickets.nested import Nested

log = logging.getLogger("mailtickets.checkpoints")

# 40 MB of log at 4 KiB pages: ten times SQLite's default, reached only if the thread
# falls behind for seconds.
SAFETY_NET_PAGES = 10_000
SQLITE_DEFAULT_PAGES = 1_000  # what the connections go back to when the thread stops
BUSY_EVERY = 0.1  # seconds between checkpoints while the log grows
IDLE_EVERY = 1.0  # and once it has stopped growing


def applies_to(engine: Engine) -> bool:
    """Whether `engine` is a SQLite file, the one database with a log to checkpoint."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


class Checkpoints(Nested):
    """While entered (re-entrant), a thread checkpoints the log of a SQLite engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.applies = applies_to(engine)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def start(self) -> None:
        if not self.applies:
            return
        if not event.contains(self.engine, "checkout", self._set_threshold):
            event.listen(self.engine, "checkout", self._set_threshold)
        # The thread's own event: one that outlived a stop() (a stalled checkpoint) still
        # stops, instead of obeying the next start's.
        self._stop = stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(stop,))
        self._thread.name = "mailtickets-checkpoints"
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last checkpoint; the connections checkpoint by themselves
        again from their next checkout."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                log.warning("database: the checkpoint thread is still busy; leaving it")
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _set_threshold(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # Set when it changes, not at every checkout: a PRAGMA each time is wasted work.
        pages = SAFETY_NET_PAGES if self.running else SQLITE_DEFAULT_PAGES
        if record.info.get("wal_autocheckpoint") != pages:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
            record.info["wal_autocheckpoint"] = pages

    def checkpoint(self, connection: Any) -> tuple[int, int]:
        """One passive checkpoint (it waits for no reader or writer): the pages in the
        log and how many of them are in the database file now."""
        _busy, pages, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return pages, copied

    def _run(self, stop: threading.Event) -> None:
        connection = None
        last = (-1, -1)
        every = BUSY_EVERY
        while True:
            stopping = stop.wait(every)
            try:
                if connection is None:
                    connection = self.engine.raw_connection()
                found = self.checkpoint(connection)  # on stopping too: what the run wrote
            except Exception as exc:  # the thread's boundary: the next round tries again
                self._trouble(exc)
                _closed(connection)
                connection = None
                every = IDLE_EVERY
            else:
                if self._warned:
                    log.warning("database: background checkpoints work again")
                    self._warned = False
                every = IDLE_EVERY if found == last else BUSY_EVERY
                last = found
            if stopping:
                break
        _closed(connection)

    def _trouble(self, exc: Exception) -> None:
        # Another process checkpointing or a full disk: the commits' safety net still
        # checkpoints; one warning until it works again, not one a second.
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not self._warned:
            log.warning("database: background checkpoint failed, retrying: %s", why)
            self._warned = True


def _closed(connection: Any) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:
            log.debug("database: closing the checkpoint connection", exc_info=True)
