"""Outbox claims last while their holder lives (issue 14): over a real SQLite file, with real
processes for the predecessors that die. No mail server: a flush here meets a closed port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailtickets import outbox, store
from mailtickets import pipeline as pipeline_module
from mailtickets.db import open_database, transaction
from mailtickets.models import Inbound, Outbox, Worker
from mailtickets.pipeline import Pipeline
from mailtickets.render import Renderer
from mailtickets.settings import Settings, SmtpSettings
from mailtickets.workers import (
    OWN_LEASE,
    STALE_AFTER,
    Heartbeat,
    dead_claims,
    pid_space,
    process_key,
    utc_now,
)
from tests.conftest import both_databases
from tests.outbox_rows import queue

pytestmark = both_databases

QUIET = timedelta(hours=1)  # a heartbeat thread that never beats during the test
ANOTHER_HOST = "0f0f0f0f-0000-4000-8000-000000000000/pid:[1]"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def add_worker(engine: Engine, worker_id: str, process: str, pid: int, beat: datetime) -> None:
    with transaction(engine) as session:
        store.add_worker(
            session,
            Worker(
                id=worker_id,
                host="mx2",
                pid=pid,
                process=process,
                started_at=beat,
                heartbeat_at=beat,
            ),
        )


def claim_for(engine: Engine, worker_id: str, ids: list[int], at: datetime) -> None:
    """Claim `ids` for `worker_id` as if at `at`."""
    due = datetime.now(UTC) + timedelta(days=1)
    with transaction(engine) as session:
        assert store.claim_outbox(session, ids, worker_id, due, at - STALE_AFTER, at) == ids


def holders(engine: Engine) -> dict[int, str | None]:
    with transaction(engine) as session:
        return {r.id or 0: r.claimed_by for r in store.outbox_rows(session)}


def workers(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        return [w.id for w in store.workers(session)]


def claim(engine: Engine, heartbeat: Heartbeat, now: datetime) -> list[int]:
    with transaction(engine) as session:
        live_since = heartbeat.live_since()
        due = [r.id or 0 for r in store.due_outbox(session, now, 100, live_since, heartbeat.id)]
        return store.claim_outbox(session, due, heartbeat.id, now, live_since, heartbeat.wall())


def closed_port() -> int:
    """A loopback port nothing listens on: the relay is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_row_a_live_worker_holds_is_never_taken_whatever_the_clock_says(engine: Engine) -> None:
    ids = queue(engine, 3)
    with Heartbeat(engine, every=QUIET) as first, Heartbeat(engine, every=QUIET) as second:
        assert claim(engine, first, datetime.now(UTC)) == ids
        # `sweep --at` a year on moves the due times, never who is alive.
        assert claim(engine, second, datetime.now(UTC) + timedelta(days=365)) == []
        assert set(holders(engine).values()) == {first.id}


def test_a_silent_holder_keeps_its_rows_until_stale_after_then_loses_them(engine: Engine) -> None:
    ids = queue(engine, 2)
    now = datetime.now(UTC)
    add_worker(engine, "mx2:77:silent", f"{ANOTHER_HOST}/77/5", 77, now)
    claim_for(engine, "mx2:77:silent", ids, now)
    almost = Heartbeat(engine, wall=lambda: now + STALE_AFTER - timedelta(seconds=1))
    assert claim(engine, almost, now) == []  # still alive as far as anyone can tell
    later = Heartbeat(engine, wall=lambda: now + STALE_AFTER + timedelta(seconds=1))
    assert claim(engine, later, now) == ids
    assert set(holders(engine).values()) == {later.id}


def test_a_predecessor_whose_process_ended_is_freed_at_once(engine: Engine) -> None:
    ids = queue(engine, 4)
    proc = sleeper()
    key = process_key(proc.pid, pid_space())
    assert key is not None and not key.endswith("/?")
    now = datetime.now(UTC)
    add_worker(engine, f"vm:{proc.pid}:dead", key, proc.pid, now)
    claim_for(engine, f"vm:{proc.pid}:dead", ids, now)
    with Heartbeat(engine, every=QUIET) as alive:  # it still runs: its claims stand
        assert claim(engine, alive, now) == []
    proc.kill()
    proc.wait()
    # Its heartbeat is fresh, but the process is gone: the next start frees its claims.
    with Heartbeat(engine, every=QUIET) as successor:
        assert workers(engine) == [successor.id]
        assert set(holders(engine).values()) == {None}
        assert claim(engine, successor, now) == ids


def test_a_reused_pid_is_another_process_and_an_unknown_start_time_proves_nothing(
    engine: Engine,
) -> None:
    now = datetime.now(UTC)
    space, pid = pid_space(), os.getpid()
    add_worker(engine, "vm:reused", f"{space}/{pid}/1", pid, now)  # our pid, another start
    add_worker(engine, "vm:unknown", f"{space}/{pid}/?", pid, now)
    with Heartbeat(engine, every=QUIET) as mine:
        assert sorted(workers(engine)) == sorted([mine.id, "vm:unknown"])


def test_another_hosts_worker_is_judged_by_its_heartbeat_alone(engine: Engine) -> None:
    now = datetime.now(UTC)
    no_such_pid = 2**22 + 17  # above Linux's pid_max: no process here has it
    add_worker(engine, "mx2:fresh", f"{ANOTHER_HOST}/{no_such_pid}/9", no_such_pid, now)
    add_worker(engine, "mx2:old", f"{ANOTHER_HOST}/{no_such_pid}/8", no_such_pid, now - QUIET)
    ids = queue(engine, 2)
    claim_for(engine, "mx2:old", ids, now - QUIET)
    with Heartbeat(engine, every=QUIET) as mine:
        assert sorted(workers(engine)) == sorted([mine.id, "mx2:fresh"])
        assert set(holders(engine).values()) == {None}  # the silent one's claims were freed


def test_a_process_that_ended_but_was_not_collected_is_gone() -> None:
    proc = sleeper()
    proc.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{proc.pid}/stat").exists() and time.monotonic() < deadline:
        if Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            break
        time.sleep(0.01)
    assert process_key(proc.pid, pid_space()) is None  # a zombie until wait()
    proc.wait()
    assert process_key(os.getpid(), pid_space()) is not None


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_claims_stop_being_ours_when_the_heartbeat_is_not_renewed_in_time(engine: Engine) -> None:
    clock = FakeMonotonic()
    with Heartbeat(engine, monotonic=clock, every=QUIET) as heartbeat:
        token = heartbeat.token()
        assert heartbeat.holds(token)
        clock.now += OWN_LEASE.total_seconds() - 0.5
        assert heartbeat.holds(token)
        clock.now += 1
        assert not heartbeat.holds(token)
        assert heartbeat.beat()
        # Renewed, but too late: what was claimed under the old token stays lost.
        assert not heartbeat.holds(token)
        assert heartbeat.holds(heartbeat.token())


def heartbeat_at(engine: Engine, worker_id: str) -> datetime:
    with transaction(engine) as session:
        row = session.get(Worker, worker_id)
        assert row is not None
        return row.heartbeat_at


def test_a_busy_main_thread_renews_between_its_transactions_once_a_beat_is_due(
    engine: Engine,
) -> None:
    # A backlog's batch transactions can keep the heartbeat thread from the database.
    clock = FakeMonotonic()
    with Heartbeat(engine, monotonic=clock, every=timedelta(seconds=3)) as heartbeat:
        token = heartbeat.token()
        first = heartbeat_at(engine, heartbeat.id)
        clock.now += 2.9
        assert heartbeat.beat_if_due()  # renewed 2.9 s ago: nothing written
        assert heartbeat_at(engine, heartbeat.id) == first
        clock.now += 0.2
        assert heartbeat.beat_if_due()
        assert heartbeat_at(engine, heartbeat.id) > first
        clock.now += OWN_LEASE.total_seconds() - 0.5  # within the lease of that renewal
        assert heartbeat.holds(token)


def test_a_beat_that_waited_long_never_shortens_a_lease_renewed_meanwhile(engine: Engine) -> None:
    clock = FakeMonotonic()
    with Heartbeat(engine, monotonic=clock, every=QUIET) as heartbeat:
        token = heartbeat.token()
        began = clock.now  # the heartbeat thread starts a beat, then waits for the database
        clock.now += 6
        assert heartbeat.beat()  # the main thread renews meanwhile, between transactions
        clock.now += 3
        heartbeat._renewed(began)  # the waiting beat lands at last, 9 s after it began
        clock.now += OWN_LEASE.total_seconds() - 3.5  # within the main thread's renewal
        assert heartbeat.holds(token)


def test_a_worker_taken_for_dead_joins_again_and_drops_what_it_held(engine: Engine) -> None:
    with Heartbeat(engine, every=QUIET) as heartbeat:
        token = heartbeat.token()
        with transaction(engine) as session:
            store.remove_worker(session, heartbeat.id)
        assert heartbeat.beat()
        assert workers(engine) == [heartbeat.id]
        assert not heartbeat.holds(token)
        assert heartbeat.holds(heartbeat.token())


def test_the_heartbeat_goes_on_by_itself_and_a_clean_stop_gives_everything_back(
    engine: Engine,
) -> None:
    ids = queue(engine, 2)
    heartbeat = Heartbeat(engine, every=timedelta(seconds=0.1))

    def beat_at() -> datetime:
        with transaction(engine) as session:
            (row,) = store.workers(session)
            return row.heartbeat_at

    with heartbeat:
        assert claim(engine, heartbeat, datetime.now(UTC)) == ids
        first = beat_at()
        time.sleep(0.5)  # the main thread is busy elsewhere (IDLE, a slow relay)
        assert beat_at() > first
    assert workers(engine) == []
    assert set(holders(engine).values()) == {None}


def test_flush_tries_only_the_rows_no_live_worker_holds(engine: Engine) -> None:
    relay = SmtpSettings("127.0.0.1", closed_port(), "none", "soporte@hostingejemplo.es")
    free, held = queue(engine, 2), queue(engine, 2)
    with Heartbeat(engine, every=QUIET) as other, Heartbeat(engine, every=QUIET) as mine:
        claim_for(engine, other.id, held, datetime.now(UTC))
        report = outbox.flush(relay, engine, datetime.now(UTC) + timedelta(days=365), mine)
        assert (report.sent, report.retried, report.failed) == (0, 2, 0)  # nothing listens
        with transaction(engine) as session:
            rows = {r.id: r for r in store.outbox_rows(session)}
        for n in free:  # tried, backed off, given back
            assert (rows[n].attempts, rows[n].claimed_by, rows[n].state) == (1, None, "pending")
        for n in held:  # untouched
            assert (rows[n].attempts, rows[n].claimed_by) == (0, other.id)


def test_a_flush_takes_up_again_what_a_failed_flush_of_its_own_left_claimed(
    engine: Engine,
) -> None:
    relay = SmtpSettings("127.0.0.1", closed_port(), "none", "soporte@hostingejemplo.es")
    ids = queue(engine, 3)
    with Heartbeat(engine, every=QUIET) as mine:
        assert claim(engine, mine, datetime.now(UTC)) == ids
        report = outbox.flush(relay, engine, datetime.now(UTC), mine)
        assert report.retried == 3
        assert set(holders(engine).values()) == {None}


def test_status_lists_the_claims_of_dead_workers_with_their_age(engine: Engine) -> None:
    now = datetime.now(UTC)
    proc = sleeper()
    key = process_key(proc.pid, pid_space())
    assert key is not None
    proc.kill()
    proc.wait()
    add_worker(engine, "mx2:silent", f"{ANOTHER_HOST}/7/1", 7, now - timedelta(seconds=40))
    add_worker(engine, f"vm:{proc.pid}:ended", key, proc.pid, now - timedelta(seconds=2))
    add_worker(engine, "mx2:alive", f"{ANOTHER_HOST}/8/1", 8, now - timedelta(seconds=1))
    claim_for(engine, "mx2:silent", queue(engine, 3), now - timedelta(minutes=5))
    claim_for(engine, "mx2:silent", queue(engine, 1), now - timedelta(minutes=1))
    claim_for(engine, f"vm:{proc.pid}:ended", queue(engine, 2), now - timedelta(seconds=3))
    claim_for(engine, "mx2:alive", queue(engine, 2), now - timedelta(seconds=2))
    claim_for(engine, "mx2:vanished", queue(engine, 1), now - timedelta(seconds=30))
    queue(engine, 2)  # unclaimed
    sent = queue(engine, 1)
    claim_for(engine, "mx2:silent", sent, now)
    with transaction(engine) as session:
        row = session.get(Outbox, sent[0])
        assert row is not None
        row.state = "sent"
        session.add(row)
    with transaction(engine) as session:
        found = dead_claims(session, now)
    assert [(d.worker_id, d.why, d.claims) for d in found] == [
        ("mx2:silent", "silent for 40 s", 4),
        ("mx2:vanished", "no worker row", 1),
        (f"vm:{proc.pid}:ended", "process ended", 2),
    ]
    silent, vanished, ended = found
    assert (silent.host, silent.pid) == ("mx2", 7)
    assert silent.oldest_claim_age == timedelta(minutes=5)
    assert silent.silent_for == timedelta(seconds=40)
    assert (vanished.host, vanished.pid, vanished.silent_for) == ("", None, None)
    assert vanished.oldest_claim_age == timedelta(seconds=30)
    assert ended.silent_for == timedelta(seconds=2)
    with transaction(engine) as session:
        holders_now = [(h.worker_id, h.claims) for h in store.outbox_claim_holders(session)]
    assert holders_now == [
        ("mx2:silent", 4),
        ("mx2:vanished", 1),
        (f"vm:{proc.pid}:ended", 2),
        ("mx2:alive", 2),
    ]


def inbound_rows(engine: Engine, count: int, senders: tuple[str, ...] = ("",)) -> list[int]:
    with transaction(engine) as session:
        for n in range(count):
            row = Inbound(
                mailbox="m",
                uidvalidity=1,
                uid=n + 1,
                dedup_key=f"in{n}",
                sender=senders[n % len(senders)],
                fetched_at=utc_now(),
            )
            store.add_inbound(session, row, b"Subject: hola\r\n\r\nhola\r\n")
        return [i for i, _ in store.pending_inbound(session, 100)]


def attempts_of(engine: Engine) -> list[tuple[int, str | None]]:
    with transaction(engine) as session:
        rows = session.exec(select(Inbound).order_by(col(Inbound.id))).all()
        return [(r.attempts, r.attempted_by) for r in rows]


def test_rows_another_live_worker_counted_are_not_its_to_retry_until_it_is_gone(
    engine: Engine, settings: Settings
) -> None:
    """A row that worker A counted and is about to process is no retry for worker B: B
    would count an attempt that never was, and three such could quarantine a healthy mail."""
    now = utc_now()
    add_worker(engine, "mx2:7:a", ANOTHER_HOST, 7, now)
    ids = inbound_rows(engine, 4)
    a = store.Attempter("mx2:7:a", now - STALE_AFTER)
    with transaction(engine) as session:
        assert store.count_first_attempts(session, ids[:2], a) == ids[:2]
    with Heartbeat(engine, every=QUIET) as b:
        with transaction(engine) as session:
            mine = store.Attempter(b.id, b.live_since())
            assert [i for i, _ in store.pending_inbound(session, 100, 0, mine)] == ids[2:]
        # B's whole pass processes only the rows nobody holds, and counts nothing of A's.
        Pipeline(settings, engine, Renderer("es"), utc_now).process_pending(worker=b)
        assert attempts_of(engine)[:2] == [(1, "mx2:7:a"), (1, "mx2:7:a")]
        assert [n for n, _ in attempts_of(engine)[2:]] == [1, 1]
        # A falls silent: its rows are anyone's again, retried and counted by B.
        with transaction(engine) as session:
            later = store.Attempter(b.id, now + timedelta(seconds=1))
            assert [i for i, _ in store.pending_inbound(session, 100, 0, later)] == ids[:2]


def test_a_senders_next_mail_waits_while_another_worker_has_the_one_before(
    engine: Engine,
) -> None:
    """Processed beside its predecessor, a reply would find no committed ticket and open its
    own, and both would make the same new contact: it waits for the other worker."""
    now = utc_now()
    add_worker(engine, "mx2:7:a", ANOTHER_HOST, 7, now)
    ids = inbound_rows(engine, 4, ("lucia@estudiolucia.es", "pedro@pedro.es"))
    a = store.Attempter("mx2:7:a", now - STALE_AFTER)
    with transaction(engine) as session:  # A has Lucía's first mail in hand
        assert store.count_first_attempts(session, ids[:1], a) == ids[:1]
    b = store.Attempter("mx1:8:b", now - STALE_AFTER)
    with transaction(engine) as session:
        # Pedro's mails are free; Lucía's second waits behind her first.
        assert [i for i, _ in store.pending_inbound(session, 100, 0, b)] == [ids[1], ids[3]]
        assert store.claim_inbound_rows(session, [ids[2]], b) == []
        assert store.claim_inbound(session, ids[2], b) is None
        session.rollback()
    with transaction(engine) as session:  # A's own pass goes on in order
        assert store.claim_inbound_rows(session, [ids[2]], a) == [ids[2]]
        session.rollback()
    gone = store.Attempter("mx1:8:b", now + timedelta(seconds=1))  # A fell silent
    with transaction(engine) as session:
        assert [i for i, _ in store.pending_inbound(session, 100, 0, gone)] == ids
        assert store.claim_inbound_rows(session, [ids[2]], gone) == [ids[2]]


def saved_mail(engine: Engine, uid: int, sender: str, message_id: str, reply_to: str = "") -> int:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, "soporte@hostingejemplo.es"
    msg["Subject"] = "Re: la web no carga" if reply_to else "La web no carga"
    msg["Message-ID"] = message_id
    if reply_to:
        msg["In-Reply-To"] = msg["References"] = reply_to
    else:  # her partner in copy: a participant of the ticket, whose answer joins it
        msg["Cc"] = "socio@estudiolucia.es"
    msg.set_content("Sigue sin cargar." if reply_to else "Desde esta mañana la web da error 500.")
    with transaction(engine) as session:
        row = Inbound(
            mailbox="m",
            uidvalidity=1,
            uid=uid,
            dedup_key=f"mid:{message_id}",
            message_id=message_id,
            sender=sender,
            fetched_at=utc_now(),
        )
        store.add_inbound(session, row, msg.as_bytes())
        assert row.id is not None
        return row.id


def test_a_reply_waits_for_the_mail_it_answers_while_another_worker_has_it(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its colleague answers Lucía's mail before it is processed: the answer waits (its
    attempt uncounted) instead of opening a ticket of its own; once the mail it answers is
    done, it joins that ticket."""
    now = utc_now()
    add_worker(engine, "mx2:7:a", ANOTHER_HOST, 7, now)
    first = saved_mail(engine, 1, "lucia@estudiolucia.es", "<m1@estudiolucia.es>")
    reply = saved_mail(
        engine, 2, "socio@estudiolucia.es", "<m2@estudiolucia.es>", "<m1@estudiolucia.es>"
    )
    with transaction(engine) as session:  # worker A has Lucía's mail in hand
        a = store.Attempter("mx2:7:a", now - STALE_AFTER)
        assert store.count_first_attempts(session, [first], a) == [first]
    pipeline = Pipeline(settings, engine, Renderer("es"), utc_now)
    monkeypatch.setattr(pipeline_module, "PUT_OFF_PAUSE", 0.01)  # looks again, briefly
    with Heartbeat(engine, every=QUIET) as b:
        assert pipeline.process_pending(worker=b) == []  # put off, not failed nor done
        assert attempts_of(engine) == [(1, "mx2:7:a"), (0, b.id)]
        with transaction(engine) as session:
            assert store.list_tickets(session, None, None) == []
        with transaction(engine) as session:  # A is gone: its mail is anyone's to retry
            session.execute(text("DELETE FROM worker WHERE id = 'mx2:7:a'"))
        results = pipeline.process_pending(worker=b)
    assert [(r.inbound_id, r.state) for r in results] == [(first, "done"), (reply, "done")]
    with transaction(engine) as session:
        [ticket] = store.list_tickets(session, None, None)
        assert len(store.messages_of(session, ticket.id or 0)) == 2


def outbox_state(engine: Engine) -> dict[int, tuple[object, ...]]:
    with transaction(engine) as session:
        return {
            r.id or 0: (
                r.state,
                r.attempts,
                r.last_error,
                r.sent_at,
                r.next_attempt_at,
                r.claimed_by,
            )
            for r in store.outbox_rows(session)
        }


def test_recording_the_relays_answers_writes_what_each_says_and_gives_the_claim_back(
    engine: Engine,
) -> None:
    due = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    sent, retry, failed, taken, taken_sent = ids = queue(engine, 5, due)
    claim_for(engine, "a-worker", ids[:3], datetime.now(UTC))
    claim_for(engine, "another", ids[3:], datetime.now(UTC))
    assert [holders(engine)[n] for n in ids] == ["a-worker"] * 3 + ["another"] * 2
    now, later = due + timedelta(minutes=5), due + timedelta(minutes=6)
    with transaction(engine) as session:
        assert set(store.outbox_in_hand(session, ids)) == set(ids)
        written = [
            store.record_answer(session, answer)
            for answer in (
                store.Answer(sent, "sent", 1, "", "a-worker", sent_at=now),
                store.Answer(retry, "pending", 1, "451 luego", "a-worker", next_attempt_at=later),
                store.Answer(failed, "failed", 1, "550 no existe", "a-worker"),
                # Our claim lapsed and another worker took these: only "sent" is written.
                store.Answer(taken, "pending", 1, "451", "a-worker", next_attempt_at=later),
                store.Answer(taken_sent, "sent", 1, "", "a-worker", sent_at=now),
            )
        ]
        assert written == [True, True, True, False, True]
    with transaction(engine) as session:  # rows that left are never written again
        assert not store.record_answer(session, store.Answer(failed, "sent", 2, "", "a-worker"))
        assert not store.record_answer(session, store.Answer(sent, "sent", 2, "x", "a-worker"))
        # The claim went back with the first answer, so a second is not ours to write.
        again = store.Answer(retry, "pending", 2, "451", "a-worker")
        assert not store.record_answer(session, again)
    assert outbox_state(engine) == {
        sent: ("sent", 1, "", now, due, None),  # the due time kept
        retry: ("pending", 1, "451 luego", None, later, None),
        failed: ("failed", 1, "550 no existe", None, due, None),
        taken: ("pending", 0, "", None, due, "another"),
        taken_sent: ("sent", 1, "", now, due, None),
    }


def test_a_flush_records_each_answer_by_the_outbox_rules(engine: Engine) -> None:
    """outbox._record: attempts counted, back-off, the last attempt failing, rows that left
    or went to another worker, and the delivery hook of a kind that has one."""
    due = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    ids = queue(engine, 6, due)
    sent, retry, last, bad, gone, theirs = ids
    with transaction(engine) as session:
        session.execute(
            text("UPDATE outbox SET attempts = :n WHERE id = :id"),
            {"n": outbox.MAX_ATTEMPTS - 1, "id": last},
        )
        session.execute(text("UPDATE outbox SET state = 'sent' WHERE id = :id"), {"id": gone})
    claim_for(engine, "a-worker", [sent, retry, last, bad], datetime.now(UTC))
    claim_for(engine, "another", [theirs], datetime.now(UTC))
    now = due + timedelta(minutes=5)
    hooked: list[tuple[int, int]] = []
    attempts = [
        outbox.Attempt(sent, "sent"),
        outbox.Attempt(retry, "retry", "451 luego"),
        outbox.Attempt(last, "retry", "451 otra vez"),
        outbox.Attempt(bad, "failed", "550 " + "x" * 3000),
        outbox.Attempt(gone, "sent"),
        outbox.Attempt(theirs, "failed", "550"),
    ]
    outbox._record(
        engine,
        attempts,
        now,
        {"ack": lambda _s, row, _at: hooked.append((row.id, row.attempts))},
        "a-worker",
    )
    state = outbox_state(engine)
    assert state[sent] == ("sent", 1, "", now, due, None)
    retried = state[retry]
    assert retried[:4] == ("pending", 1, "451 luego", None) and retried[5] is None
    assert isinstance(retried[4], datetime)
    assert outbox.BACKOFF_BASE * 0.8 <= retried[4] - now <= outbox.BACKOFF_BASE * 1.2
    assert state[last][:3] == ("failed", outbox.MAX_ATTEMPTS, "451 otra vez")
    assert state[bad][:2] == ("failed", 1) and len(str(state[bad][2])) == 2000
    assert state[gone][:2] == ("sent", 0)  # recorded by whoever sent it: left alone
    assert state[theirs] == ("pending", 0, "", None, due, "another")
    # The hook ran for each row of ours that left for good (sent or failed), given the row
    # as read (its attempts before this one); not for the one already sent, nor for the
    # other worker's.
    assert sorted(hooked) == sorted([(sent, 0), (last, outbox.MAX_ATTEMPTS - 1), (bad, 0)])
