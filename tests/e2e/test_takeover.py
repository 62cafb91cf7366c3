"""Several workers (issue 14): a dead worker's mail is taken over within 30 s by the real
daemon, a live worker's never; a worker whose own heartbeat lapsed sends nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailtickets import outbox, store
from mailtickets.db import open_database, transaction
from mailtickets.models import Outbox, Worker
from mailtickets.workers import OWN_LEASE, STALE_AFTER, Heartbeat
from tests.conftest import World, both_databases, eml_variant

pytestmark = both_databases

TAKEOVER_SECONDS = 30.0  # SPEC §9: the same bound as a mailbox's failover
TRY_LATER = "451 4.3.0 Intentelo mas tarde"
# Workers of another machine: their pids mean nothing here, only their heartbeats count.
ELSEWHERE = "0f0f0f0f-0000-4000-8000-000000000000/pid:[1]"


def queue_unsent(world: World, mails: int) -> Engine:
    """`mails` new tickets whose mail the relay refused once (4xx), due again now."""
    for n in range(mails):
        world.deliver(eml_variant(n, "takeover"))
    world.sink.replies = [TRY_LATER] * 100
    world.cycle()
    world.sink.replies = []
    engine = open_database(world.settings.database_url)
    with transaction(engine) as session:
        for row in store.outbox_rows(session):
            assert row.state == "pending" and row.claimed_by is None
            row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(row)
    return engine


def held_by(engine: Engine, worker_id: str, pid: int, ids: list[int]) -> None:
    """A worker of another machine that claimed `ids` and beat just now."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        process = f"{ELSEWHERE}/{pid}/1"
        worker = Worker(id=worker_id, host="mx2", pid=pid, process=process, started_at=now)
        worker.heartbeat_at = now
        session.add(worker)
        rows = session.exec(select(Outbox).where(col(Outbox.id).in_(ids))).all()
        for row in rows:
            row.claimed_by, row.claimed_at = worker_id, now
            session.add(row)


def message_ids(engine: Engine, ids: list[int]) -> set[str]:
    with transaction(engine) as session:
        return {r.message_id for r in store.outbox_rows(session) if r.id in ids}


def at_the_relay(world: World) -> set[str]:
    return {str(r.message["Message-ID"]).strip() for r in world.sink.received}


def wait_until(what: str, done: object, seconds: float) -> float:
    """Poll `done()` until true; the time.time() it was first seen true."""
    assert callable(done)
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.05)
    return time.time()


class Beating:
    """Keeps a worker's heartbeat fresh from another thread, as a live worker would."""

    def __init__(self, engine: Engine, worker_id: str) -> None:
        self.engine, self.worker_id = engine, worker_id
        self.last = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            now = datetime.now(UTC)
            with transaction(self.engine) as session:
                assert store.renew_worker(session, self.worker_id, now)
            self.last = now.timestamp()

    def stop(self) -> float:
        """Stop beating, as a worker that dies; when it last beat."""
        self._stop.set()
        self._thread.join()
        return self.last


def test_a_dead_workers_mail_is_taken_over_within_30_s_and_a_live_ones_never(
    world: World,
) -> None:
    engine = queue_unsent(world, 4)
    with transaction(engine) as session:
        ids = [r.id or 0 for r in store.outbox_rows(session)]
    assert len(ids) >= 8
    dead_ids, live_ids = ids[::2], ids[1::2]
    held_by(engine, "mx2:4242:dead", 4242, dead_ids)
    held_by(engine, "mx2:4243:alive", 4243, live_ids)
    died = time.time()  # the dead one's last heartbeat, written just now
    alive = Beating(engine, "mx2:4243:alive")
    dead_mail, live_mail = message_ids(engine, dead_ids), message_ids(engine, live_ids)
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
    log = world.tmp / "run.log"
    with log.open("wb") as err:
        daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        taken = wait_until(
            "the dead worker's mail at the relay",
            lambda: dead_mail <= at_the_relay(world),
            TAKEOVER_SECONDS + 5,
        )
        # Not before the holder could be known dead, and within the bound after that.
        assert STALE_AFTER.total_seconds() <= taken - died <= TAKEOVER_SECONDS, log.read_text()
        print(f"takeover: a dead worker's mail at the relay {taken - died:.1f} s after it died")
        assert not live_mail & at_the_relay(world), "a live worker's claim was taken"
        time.sleep(3)  # a few more cycles of the daemon: still none of it
        assert not live_mail & at_the_relay(world), "a live worker's claim was taken"

        last_beat = alive.stop()
        taken = wait_until(
            "the second worker's mail once it stopped beating",
            lambda: live_mail <= at_the_relay(world),
            TAKEOVER_SECONDS + 5,
        )
        assert STALE_AFTER.total_seconds() <= taken - last_beat <= TAKEOVER_SECONDS
        print(f"takeover: the second worker's mail {taken - last_beat:.1f} s after it stopped")
    finally:
        alive.stop()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
        engine.dispose()
    assert code == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "worker mx2:4242:dead (pid 4242 on mx2) is gone, silent for" in text
    received = [str(r.message["Message-ID"]).strip() for r in world.sink.received]
    assert sorted(received) == sorted(dead_mail | live_mail)  # each once


class Frozen:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_worker_whose_heartbeat_lapsed_sends_nothing_and_gives_its_claims_back(
    world: World,
) -> None:
    engine = queue_unsent(world, 2)
    clock = Frozen()
    with Heartbeat(engine, monotonic=clock, every=timedelta(hours=1)) as worker:
        clock.now += OWN_LEASE.total_seconds()  # no renewal for the whole lease
        report = outbox.flush(world.settings.smtp, engine, datetime.now(UTC), worker)
        assert (report.sent, report.retried, report.failed) == (0, 0, 0)
        assert world.sink.received == []
        with transaction(engine) as session:
            rows = store.outbox_rows(session)
        assert {(r.state, r.attempts, r.claimed_by) for r in rows} == {("pending", 1, None)}
        # Renewed, it sends them all.
        assert worker.beat()
        report = outbox.flush(world.settings.smtp, engine, datetime.now(UTC), worker)
        assert report.sent == len(rows)
    assert sorted(at_the_relay(world)) == sorted(r.message_id for r in rows)
    engine.dispose()
