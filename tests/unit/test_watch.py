"""One watcher per mailbox (issue 10 point 2): the pure verdict on a holder, and the lease
over a real database, with real processes for the holders that die."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from mailtickets import store
from mailtickets.db import open_database, transaction
from mailtickets.models import MailboxWatch, Worker
from mailtickets.watch import (
    RECHECK,
    Holder,
    MailboxLease,
    holder_of,
    judge,
    take,
)
from mailtickets.workers import OWN_LEASE, STALE_AFTER, Heartbeat, pid_space, process_key
from tests.conftest import both_databases

KEY = "soporte@imap.example:993/INBOX"
QUIET = timedelta(hours=1)  # a heartbeat thread that never beats during the test
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Frozen:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the verdict, pure ---------------------------------------------------------------------


def beating(seconds_ago: float, ended: bool = False) -> Holder:
    at = NOW - timedelta(seconds=seconds_ago)
    return Holder("mx2:41:a", NOW - timedelta(hours=1), "mx2", 41, at, ended)


@pytest.mark.parametrize(
    ("holder", "ours", "free", "why"),
    [
        (None, False, True, "nobody held it"),
        (Holder("me", NOW), True, False, "ours"),
        (Holder("mx2:41:a", NOW), False, True, "its holder mx2:41:a has no worker row"),
        (beating(13), False, True, "its holder mx2:41:a is silent for 13 s"),
        (beating(1, ended=True), False, True, "its holder mx2:41:a has ended"),
        (beating(STALE_AFTER.total_seconds()), False, False, "held by worker mx2:41:a"),
        (beating(0), False, False, "held by worker mx2:41:a (pid 41 on mx2) since 2026-11-23"),
    ],
)
def test_a_mailbox_is_free_only_when_its_holder_is_gone(
    holder: Holder | None, ours: bool, free: bool, why: str
) -> None:
    verdict = judge(holder, "me", NOW)
    assert (verdict.ours, verdict.free) == (ours, free)
    assert verdict.why.startswith(why)


# --- the lease, on a database ---------------------------------------------------------------


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def row(engine: Engine) -> MailboxWatch | None:
    with transaction(engine) as session:
        return session.get(MailboxWatch, KEY)


def set_heartbeat(engine: Engine, worker_id: str, at: datetime) -> None:
    with transaction(engine) as session:
        assert store.renew_worker(session, worker_id, at)


@both_databases
def test_one_worker_holds_the_mailbox_the_other_is_told_who(engine: Engine) -> None:
    with Heartbeat(engine, every=QUIET) as a, Heartbeat(engine, every=QUIET) as b:
        first, second = MailboxLease(engine, KEY, a), MailboxLease(engine, KEY, b)
        assert first.hold().ours
        held = second.hold()
        assert not held.ours and f"held by worker {a.id}" in held.line
        assert first.hold().ours and first.still_ours() and not second.still_ours()
        found = row(engine)
        assert found is not None and found.holder == a.id and found.held_since is not None


@both_databases
def test_a_holder_that_stopped_leaves_the_mailbox_to_the_next(engine: Engine) -> None:
    with Heartbeat(engine, every=QUIET) as b:
        second = MailboxLease(engine, KEY, b)
        with Heartbeat(engine, every=QUIET) as a:
            first = MailboxLease(engine, KEY, a)
            assert first.hold().ours and not second.hold().ours
        # Its worker row is gone (a clean stop), its lease not given up: free all the same.
        assert not first.still_ours()
        assert second.hold().ours
        assert row(engine).holder == b.id  # type: ignore[union-attr]
        second.release()
        assert row(engine).holder is None  # type: ignore[union-attr]


@both_databases
def test_a_silent_holder_loses_it_and_once_recovered_touches_nothing(engine: Engine) -> None:
    clock = Frozen()
    with (
        Heartbeat(engine, monotonic=clock, every=QUIET) as a,
        Heartbeat(engine, every=QUIET) as b,
    ):
        first, second = MailboxLease(engine, KEY, a), MailboxLease(engine, KEY, b)
        assert first.hold().ours
        # Frozen: its own lease lapses first, before anyone may find it stale.
        clock.now += OWN_LEASE.total_seconds()
        assert not first.still_ours()
        assert not second.hold().ours  # its heartbeat row is still fresh for the others
        set_heartbeat(engine, a.id, datetime.now(UTC) - STALE_AFTER - timedelta(seconds=1))
        taken = second.hold()
        assert taken.ours, taken.line
        # It recovers: it beats again, but the row names the other one now.
        assert a.beat()
        assert not first.hold().ours and not first.still_ours()
        assert row(engine).holder == b.id  # type: ignore[union-attr]


@both_databases
def test_a_holder_whose_beat_lapsed_unseen_keeps_it_after_beating_again(engine: Engine) -> None:
    clock = Frozen()
    with Heartbeat(engine, monotonic=clock, every=QUIET) as a:
        first = MailboxLease(engine, KEY, a)
        assert first.hold().ours
        clock.now += OWN_LEASE.total_seconds()
        assert not first.still_ours() and not first.hold().ours
        assert a.beat()  # nobody took it meanwhile
        assert first.hold().ours and first.still_ours()


@both_databases
def test_a_holder_that_beat_after_being_judged_silent_keeps_it(engine: Engine) -> None:
    with Heartbeat(engine, every=QUIET) as a, Heartbeat(engine, every=QUIET) as b:
        assert MailboxLease(engine, KEY, a).hold().ours
        set_heartbeat(engine, a.id, datetime.now(UTC) - timedelta(seconds=20))
        with transaction(engine) as session:
            seen = holder_of(session, KEY, pid_space())
        assert judge(seen, b.id, datetime.now(UTC)).free
        set_heartbeat(engine, a.id, datetime.now(UTC))  # it beats before the UPDATE lands
        with transaction(engine) as session:
            assert not take(session, KEY, b.id, datetime.now(UTC), seen)
        assert row(engine).holder == a.id  # type: ignore[union-attr]


@both_databases
def test_a_holder_whose_process_ended_here_is_replaced_at_once(engine: Engine) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    key = process_key(proc.pid, pid_space())
    assert key is not None and not key.endswith("/?")
    now = datetime.now(UTC)
    dead = f"vm:{proc.pid}:dead"
    with Heartbeat(engine, every=QUIET) as b:  # started first: its start reaps nobody
        with transaction(engine) as session:
            session.add(
                Worker(
                    id=dead, host="vm", pid=proc.pid, process=key, started_at=now, heartbeat_at=now
                )
            )
            session.add(MailboxWatch(mailbox=KEY, holder=dead, held_since=now))
        second = MailboxLease(engine, KEY, b)
        held = second.hold()
        assert not held.ours and f"held by worker {dead}" in held.line  # it still runs
        proc.kill()
        proc.wait()
        # Its heartbeat is fresh, but its process is gone.
        taken = second.hold()
        assert taken.ours and row(engine).holder == b.id  # type: ignore[union-attr]


@both_databases
def test_a_holder_reads_its_row_again_and_lets_go_when_it_names_another(engine: Engine) -> None:
    clock = Frozen()
    with Heartbeat(engine, every=QUIET) as a:
        first = MailboxLease(engine, KEY, a, monotonic=clock)
        assert first.hold().ours
        with transaction(engine) as session:  # e.g. an operator's hand, or a skewed clock
            session.execute(
                update(MailboxWatch)
                .where(col(MailboxWatch.mailbox) == KEY)
                .values(holder="mx2:1:other")
            )
        assert first.still_ours()  # not read again yet: at most RECHECK between reads
        clock.now += RECHECK.total_seconds()
        assert not first.still_ours()


@both_databases
def test_fetches_and_errors_are_recorded_for_status(engine: Engine) -> None:
    with Heartbeat(engine, every=QUIET) as a:
        lease = MailboxLease(engine, KEY, a)
        assert lease.hold().ours
        lease.fetched()
        lease.failed("IMAP server imap.example: connection refused\nmore detail")
    found = row(engine)
    assert found is not None and found.last_fetch_at is not None
    assert found.last_error == "IMAP server imap.example: connection refused"
    assert found.last_error_at is not None and found.last_error_at >= found.last_fetch_at
