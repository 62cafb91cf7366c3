"""Who holds a piece of work, and how the others know that its holder is gone.

Every process that claims outbox rows is a *worker*: one row in `worker` (id unique per
process, host, pid, which OS process it is, a heartbeat), and each outbox claim names it
(`outbox.claimed_by`). A claim lasts only while its holder beats. We chose a heartbeat row
per worker over a short lease renewed on every claimed row because:

- renewing costs one small UPDATE per worker every HEARTBEAT_EVERY, whatever it holds, and
  it is done by a thread of its own with its own connection, so it goes on while the main
  thread waits in IMAP IDLE (up to 30 s), on a slow relay, or in a long transaction; a
  lease on the rows would have to be renewed from exactly the places that block;
- the holder is named: a process starting on the same machine sees from the row that its
  predecessor's process has ended (same boot and PID namespace, that pid gone or another
  process now) and frees its claims at once, instead of waiting for any lease; `status`
  can say who held what, and since when.

A worker is dead for everyone once its heartbeat is older than STALE_AFTER (12 s, four
missed beats) or its row is gone; the next flush of any live worker then takes its rows,
so with `[timers] outbox_interval` at its default of 15 s a dead worker's mail is taken
over within 30 s. A worker that could not renew its own heartbeat for OWN_LEASE (8 s, four
seconds before the others may act, room for clock skew between hosts) stops sending what it
claimed and gives it back: a live holder's claim is never taken while it still sends.

A mailbox is held the same way (watch.py): its row in `mailbox_watch` names a worker, and
is free once that worker is gone by these very rules; the holder stops touching the mailbox
once its own lease lapses, as it stops sending.

Inbound rows and timers need none of this: their claims (`pending → working`, a timer's
column cleared) are made inside the very transaction that does the work, so a holder that
dies takes its claim with it when the database rolls that transaction back, and there is
nothing to expire. An outbox row is different because it is claimed in one transaction,
sent while no transaction is open (an SMTP conversation may take a while), and recorded in
another.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from mailtickets import store
from mailtickets.db import transaction
from mailtickets.errors import TemporaryError
from mailtickets.models import Worker
from mailtickets.nested import Nested

log = logging.getLogger("mailtickets.workers")

HEARTBEAT_EVERY = timedelta(seconds=3)
STALE_AFTER = timedelta(seconds=12)  # the others' view: silent this long is gone
OWN_LEASE = timedelta(seconds=8)  # its own view: stop sending when not renewed this long


def utc_now() -> datetime:
    return datetime.now(UTC)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def pid_space() -> str:
    """Where a pid names one process: this boot of this kernel in this PID namespace (two
    containers on one host differ), else, without /proc, this host name."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    if boot and namespace:
        return f"{boot}/{namespace}"
    return f"host {socket.gethostname()}"


def process_key(pid: int, space: str) -> str | None:
    """Which process runs as `pid` in `space` (ours): space, pid and start time, so a reused
    pid is another process; "?" for the start time when it cannot be read; None: none runs."""
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it exists
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split() if stat else []
    if len(fields) < 20:
        return f"{space}/{pid}/?"
    if fields[0] in ("Z", "X"):
        return None  # it has ended; only its parent has not collected it yet
    return f"{space}/{pid}/{fields[19]}"  # field 22 of stat: start time, ticks after boot


def has_ended(worker: Worker, space: str) -> bool:
    """Known to be gone without waiting for its heartbeat: it ran in our pid space and its
    process is no longer there. Another host's worker is never judged this way."""
    if not worker.process.startswith(f"{space}/{worker.pid}/"):
        return False
    found = process_key(worker.pid, space)
    if found is None:
        return True
    # A pid whose start time cannot be read proves nothing: the heartbeat decides.
    unknown = found.endswith("/?") or worker.process.endswith("/?")
    return not unknown and found != worker.process


@dataclass(frozen=True)
class DeadClaims:
    """Outbox rows claimed by a worker that is gone, for `status`: who, and how old."""

    worker_id: str
    host: str  # "" when the worker's row is gone
    pid: int | None
    why: str  # "process ended", "silent for 40 s", "no worker row"
    claims: int
    oldest_claim_age: timedelta
    silent_for: timedelta | None  # since its last heartbeat; None without a row


def dead_claims(session: Session, now: datetime | None = None) -> list[DeadClaims]:
    """Claims held by dead workers, oldest first; [] when every claim has a live holder.
    What `mailtickets status` shows (SPEC §9); judged as a flush would judge them."""
    now = now or utc_now()
    space = pid_space()
    found = []
    for holder in store.outbox_claim_holders(session):
        why = _why_dead(holder, space, now)
        if why:
            found.append(
                DeadClaims(
                    holder.worker_id,
                    holder.host,
                    holder.pid,
                    why,
                    holder.claims,
                    now - holder.oldest_claim,
                    now - holder.heartbeat_at if holder.heartbeat_at else None,
                )
            )
    return found


def _why_dead(holder: store.ClaimHolder, space: str, now: datetime) -> str:
    if holder.worker is None or holder.heartbeat_at is None:
        return "no worker row"
    silent = now - holder.heartbeat_at
    if silent > STALE_AFTER:
        return f"silent for {int(silent.total_seconds())} s"
    return "process ended" if has_ended(holder.worker, space) else ""


class Heartbeat(Nested):
    """This process as a worker: its row, kept fresh by a thread, and whether what it
    claimed is still its own.

    Used as a context manager around whatever claims work (it nests): entering registers
    the row, frees the claims of workers found dead and starts the thread; leaving stops
    the thread, gives back any claim still held and removes the row, so a clean stop leaves
    nothing for the others to wait for.
    """

    def __init__(
        self,
        engine: Engine,
        wall: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        every: timedelta = HEARTBEAT_EVERY,
    ) -> None:
        # The real clock, never a daemon's `--at` clock: liveness is about now.
        self.engine, self.wall, self.monotonic, self.every = engine, wall, monotonic, every
        self.space = pid_space()
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.process = process_key(self.pid, self.space) or f"{self.space}/{self.pid}/?"
        self.started_at = self.wall()
        self._lock = threading.Lock()
        self._valid_until = float("-inf")
        self._epoch = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what a claimant asks ------------------------------------------------------------

    def live_since(self) -> datetime:
        """A holder whose heartbeat is older than this is gone."""
        return self.wall() - STALE_AFTER

    def token(self) -> int:
        """Taken before claiming; `holds(token)` stays true while those claims are ours."""
        with self._lock:
            return self._epoch

    def holds(self, token: int) -> bool:
        """Whether claims made under `token` are still ours: the heartbeat was renewed in
        time ever since, so no one can have found this worker dead and taken them."""
        with self._lock:
            return token == self._epoch and self.monotonic() < self._valid_until

    # --- registering and beating ------------------------------------------------------

    def start(self) -> None:
        began = self.monotonic()
        now = self.wall()
        try:
            with transaction(self.engine) as session:
                freed = self._reap(session, now)
                store.add_worker(session, self._row(now))
        except SQLAlchemyError as exc:
            why = str(exc).splitlines()[0]
            raise TemporaryError(f"database: cannot register worker {self.id}: {why}") from exc
        self._renewed(began)
        _log_freed(freed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat_until_stopped, daemon=True)
        self._thread.name = "mailtickets-heartbeat"
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.every.total_seconds())
            self._thread = None
        with self._lock:
            self._valid_until = float("-inf")
            self._epoch += 1
        try:
            with transaction(self.engine) as session:
                store.remove_worker(session, self.id)
        except SQLAlchemyError as exc:  # the others will find it silent soon enough
            log.warning("worker %s: could not remove its row: %s", self.id, exc)

    def beat(self) -> bool:
        """Renew the heartbeat (and free what workers found dead held); False on failure."""
        began = self.monotonic()
        now = self.wall()
        try:
            with transaction(self.engine) as session:
                freed = self._reap(session, now)
                if not store.renew_worker(session, self.id, now):
                    if self._stop.is_set():
                        return False  # a late beat after stop() removed the row
                    # Another worker found us silent and removed us, giving back our
                    # claims: join again; what was claimed before is no longer ours.
                    log.warning("worker %s was taken for dead; registering again", self.id)
                    with self._lock:
                        self._epoch += 1
                    store.add_worker(session, self._row(now))
        except SQLAlchemyError as exc:
            log.warning("worker %s: heartbeat failed: %s", self.id, str(exc).splitlines()[0])
            return False
        self._renewed(began)
        _log_freed(freed)
        return True

    def beat_if_due(self) -> bool:
        """Beat now if the last renewal is a beat's interval old (from a thread that keeps
        the database busy, between its transactions); True when it is fresh."""
        with self._lock:
            fresh = self.monotonic() < self._valid_until - (OWN_LEASE - self.every).total_seconds()
        return fresh or self.beat()

    def _renewed(self, began: float) -> None:
        with self._lock:
            if self.monotonic() >= self._valid_until:
                # The lease lapsed before this beat landed: the others may have taken what
                # we held, so claims made before now are no longer ours.
                self._epoch += 1
            # A beat that waited long for the database (the main thread renewing between
            # its transactions meanwhile) must not shorten a lease renewed after it began.
            self._valid_until = max(self._valid_until, began + OWN_LEASE.total_seconds())

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            try:
                self.beat()
            except Exception:  # the thread's boundary: the next beat tries again
                log.exception("worker %s: heartbeat", self.id)

    def _row(self, now: datetime) -> Worker:
        return Worker(
            id=self.id,
            host=self.host,
            pid=self.pid,
            process=self.process,
            started_at=self.started_at,
            heartbeat_at=now,
        )

    def _reap(self, session: Session, now: datetime) -> list[tuple[Worker, str, int]]:
        """Remove the workers known to be gone and give back their claims."""
        freed = []
        for worker in store.workers(session):
            if worker.id == self.id:
                continue
            silent = now - worker.heartbeat_at
            if has_ended(worker, self.space):
                why = "its process has ended"
            elif silent > STALE_AFTER:
                why = f"silent for {int(silent.total_seconds())} s"
            else:
                continue
            claims = store.remove_worker(session, worker.id)
            if claims is not None:  # else another worker removed it just before us
                freed.append((worker, why, claims))
        return freed


def _log_freed(freed: list[tuple[Worker, str, int]]) -> None:
    for worker, why, claims in freed:
        log.info(
            "worker %s (pid %s on %s) is gone, %s: %d claimed mail(s) freed",
            worker.id,
            worker.pid,
            worker.host,
            why,
            claims,
        )
