"""One watcher per mailbox (issue 10 point 2): two real `mailtickets run` daemons on one
Dovecot mailbox and one database. Only the holder fetches; when it is SIGKILLed, or frozen
until its heartbeat goes stale, the other takes the mailbox over within 30 s; a frozen
holder that wakes up again never touches the mailbox; every mail is one ticket; `run
--once` beside a live holder leaves the mailbox alone and delivers all the same."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mailtickets.db import open_database
from mailtickets.ingest import mailbox_key
from mailtickets.watch import MailboxLease
from mailtickets.workers import STALE_AFTER, Heartbeat
from tests.conftest import World, eml_variant

FAILOVER_SECONDS = 30.0  # SPEC §9
SETTLE_SECONDS = 30.0  # what a working daemon needs at most to take a free mailbox, or mail
FETCHED = re.compile(r"mailbox \S+: fetched \d+ new message|duplicate: already saved")


class Run:
    """One `mailtickets run` subprocess, its stderr in a file."""

    def __init__(self, world: World, name: str) -> None:
        self.log = world.tmp / f"{name}.log"
        cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        found = wait_until(f"{name} started", lambda: _worker_id(self.log), SETTLE_SECONDS)
        self.id = str(found)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def fetches(self, after: int = 0) -> list[str]:
        """Its log lines that show it fetched mail, from character `after` on."""
        return [line for line in self.text()[after:].splitlines() if FETCHED.search(line)]

    def holds(self) -> bool:
        return f"now watched by worker {self.id}" in self.text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def _worker_id(log: Path) -> str | None:
    found = re.search(r"polling every \S+, worker (\S+)", log.read_text(errors="replace"))
    return found.group(1) if found else None


def wait_until(what: str, done: Callable[[], object], seconds: float) -> object:
    deadline = time.monotonic() + seconds
    while not (found := done()):
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.1)
    return found


@contextmanager
def two_daemons(world: World) -> Iterator[tuple[Run, Run]]:
    """The first holds the mailbox, the second has been told who does."""
    first = Run(world, "first")
    second: Run | None = None
    try:
        wait_until("the first takes the mailbox", first.holds, SETTLE_SECONDS)
        second = started = Run(world, "second")
        wait_until(
            "the second sees it held",
            lambda: f"held by worker {first.id}" in started.text(),
            SETTLE_SECONDS,
        )
        yield first, started
    finally:
        codes = [run.stop() for run in (first, second) if run is not None]
    killed = -signal.SIGKILL
    assert all(code in (0, killed) for code in codes), [first.text()[-3000:]]
    for run in (first, second):
        assert run is None or "Traceback" not in run.text(), run.text()[-3000:]


def deliver(world: World, numbers: range) -> None:
    for n in numbers:
        world.deliver(eml_variant(n, "watch"))
        time.sleep(0.2)  # arriving one by one, across several of the holder's cycles


def one_ticket_each(world: World, mails: int) -> None:
    wait_until("a ticket for every mail", lambda: len(world.tickets()) >= mails, SETTLE_SECONDS)
    time.sleep(2)  # a few more cycles of both: still one each
    assert len(world.tickets()) == mails
    rows = world.query("SELECT message_id FROM inbound ORDER BY id")
    assert sorted(r[0] for r in rows) == sorted(f"<watch-{n}@test.example>" for n in range(mails))


def test_only_the_holder_fetches_and_a_killed_one_is_replaced_within_30_s(world: World) -> None:
    with two_daemons(world) as (first, second):
        deliver(world, range(4))
        one_ticket_each(world, 4)
        assert first.fetches(), first.text()[-3000:]
        assert second.fetches() == [], "a worker that does not hold the mailbox fetched"

        first.proc.kill()
        killed = time.monotonic()
        first.proc.wait()
        deliver(world, range(4, 7))
        wait_until("the second takes the mailbox over", second.holds, FAILOVER_SECONDS + 5)
        took = time.monotonic() - killed
        print(f"failover: the second worker held the mailbox {took:.1f} s after the SIGKILL")
        assert took <= FAILOVER_SECONDS
        one_ticket_each(world, 7)
        assert second.fetches(), second.text()[-3000:]


def test_a_frozen_holder_is_replaced_and_once_awake_touches_nothing(world: World) -> None:
    with two_daemons(world) as (first, second):
        deliver(world, range(2))
        one_ticket_each(world, 2)
        assert second.fetches() == []

        first.proc.send_signal(signal.SIGSTOP)  # a VM paused, a swap storm: alive, silent
        frozen = time.monotonic()
        deliver(world, range(2, 4))
        wait_until("the second takes the mailbox over", second.holds, FAILOVER_SECONDS + 5)
        took = time.monotonic() - frozen
        print(f"failover: the second worker held the mailbox {took:.1f} s after the freeze")
        # Its heartbeat had to go stale first (its process still exists), and no later.
        assert STALE_AFTER.total_seconds() - 3 <= took <= FAILOVER_SECONDS
        one_ticket_each(world, 4)

        woke_at = len(first.text())
        first.proc.send_signal(signal.SIGCONT)
        wait_until(
            "the woken holder sees the mailbox is another's",
            lambda: f"held by worker {second.id}" in first.text()[woke_at:],
            SETTLE_SECONDS,
        )
        deliver(world, range(4, 7))
        one_ticket_each(world, 7)
        time.sleep(3)  # several of its cycles and IDLE rounds
        assert first.fetches(woke_at) == [], first.text()[woke_at:]
        assert first.proc.poll() is None, "the woken holder died"
        assert len(second.fetches()) >= 2


def test_run_once_beside_a_live_holder_skips_ingest_but_delivers(world: World) -> None:
    world.deliver(eml_variant(0, "watch"))
    world.sink.replies = ["451 4.3.0 Intentelo mas tarde"] * 10
    world.cycle()  # a ticket, its mail refused once: pending, due again in a minute
    world.sink.replies = []
    with sqlite3.connect(world.tmp / "mt.db") as conn:
        queued = conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'").rowcount
    assert queued >= 1
    world.deliver(eml_variant(1, "watch"))
    engine = open_database(world.database_url)
    try:
        with Heartbeat(engine) as other:  # a live worker of its own, holding the mailbox
            lease = MailboxLease(engine, mailbox_key(world.settings.imap), other)
            assert lease.hold().ours
            code, out, err = world.cli("run", "--once")
            assert code == 0, err
            told = [line for line in err.splitlines() if f"held by worker {other.id}" in line]
            assert len(told) == 1 and "not touching it" in told[0], err
            assert not FETCHED.search(err), err
            assert "not fetched (another worker watches the mailbox)" in out
            assert f"mail sent {queued}," in out  # delivery ran all the same
            assert len(world.sink.received) == queued
            assert world.query("SELECT count(*) FROM inbound") == [(1,)]
            lease.release()
        code, out, err = world.cli("run", "--once")
        assert code == 0 and "fetched 1 new" in out, out + err
    finally:
        engine.dispose()
