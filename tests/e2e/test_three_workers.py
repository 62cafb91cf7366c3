"""Three workers on one PostgreSQL database and one Dovecot mailbox (issue 10 point 4): mail
arrives all along, the mailbox's holder is SIGKILLed in the middle of a batch. Every mail is
stored once and is one ticket, every notice reaches the relay once (but for what the dead
process handed over and could not record, SPEC §8's one at-least-once edge), another worker
watches the mailbox within 30 s, and nothing is left unseen on the server."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy.exc import DBAPIError

from tests.conftest import World, eml_variant
from tests.e2e.test_crash import accepted_but_unrecorded, received_ids

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

WORKERS = 3
MAILS = 60
FAILOVER_SECONDS = 30.0  # SPEC §9
SETTLE_SECONDS = 120.0
NOTICES = "kind IN ('ack', 'staff_new')"
HOLDER = "SELECT w.pid, w.id FROM mailbox_watch m JOIN worker w ON w.id = m.holder"


def wait_until(
    what: str,
    done: Callable[[], object],
    seconds: float = SETTLE_SECONDS,
    state: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"no sign of {what} after {seconds:.0f} s {state()}"
        time.sleep(0.05)


def state_of(world: World) -> str:
    """What the database says, for a failure's message."""
    inbound = world.query("SELECT state, count(*) FROM inbound GROUP BY 1 ORDER BY 1")
    outbox = world.query("SELECT kind, state, count(*) FROM outbox GROUP BY 1, 2 ORDER BY 1, 2")
    logs = {p.name: p.read_text(errors="replace")[-800:] for p in world.tmp.glob("worker*.log")}
    return f"inbound {inbound}, outbox {outbox}, relay {len(world.sink.received)}, logs {logs}"


def configure(world: World) -> None:
    text = world.config.read_text()
    text = text.replace('folder = "INBOX"', 'folder = "INBOX"\nbatch_size = 4')
    text = text.replace(
        'unknown_senders = "open"', 'unknown_senders = "open"\nmax_auto_replies_per_hour = 1000'
    )
    world.config.write_text(text)


def start(world: World, name: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
    with (world.tmp / f"{name}.log").open("wb") as log:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)


def holder(world: World) -> list[tuple[int, str]]:
    """(pid, worker id) of the mailbox's holder; none before the first start made the schema."""
    try:
        return [(int(pid), str(wid)) for pid, wid in world.query(HOLDER)]
    except DBAPIError:
        return []


def count(world: World, sql: str) -> int:
    return int(world.query(sql)[0][0])


def settled(world: World) -> bool:
    notices = world.query(f"SELECT ticket_id, kind, message_id FROM outbox WHERE {NOTICES}")
    return (
        count(world, "SELECT count(*) FROM inbound WHERE state != 'done'") == 0
        and count(world, "SELECT count(*) FROM outbox WHERE state = 'pending'") == 0
        and len({(t, k) for t, k, _ in notices}) == 2 * MAILS  # an ack and a staff notice each
        and {m for *_, m in notices} <= set(received_ids(world))
    )


def test_three_workers_one_killed_mid_batch_lose_and_double_nothing(world: World) -> None:
    configure(world)

    def deliver(first: int, last: int, pause: float) -> None:
        for n in range(first, last):
            world.deliver(eml_variant(n, "three"))
            time.sleep(pause)

    procs = {f"worker{n}": start(world, f"worker{n}") for n in range(WORKERS)}
    try:
        wait_until("a mailbox holder", lambda: holder(world))
        # A burst, so the holder has a backlog in hand when it dies; the relay holds every
        # mail until then, so notices are half sent whatever the machine's speed.
        world.sink.hold_after(0)
        deliver(0, 20, 0.0)
        wait_until(
            "the holder part way through its work",
            lambda: count(world, "SELECT count(*) FROM inbound WHERE state = 'done'") >= 4,
        )
        later = threading.Thread(target=deliver, args=(20, MAILS, 0.2))
        later.start()  # mail goes on arriving across the kill
        [(dead_pid, dead_id)] = holder(world)
        unfinished = count(world, "SELECT count(*) FROM inbound WHERE state != 'done'")
        unfinished += count(world, "SELECT count(*) FROM outbox WHERE state = 'pending'")
        killed = next(p for p in procs.values() if p.pid == dead_pid)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        dead_at = time.monotonic()
        world.sink.release()
        wait_until(
            "another worker watching the mailbox",
            lambda: [wid for _, wid in holder(world) if wid != dead_id],
            FAILOVER_SECONDS + 5,
        )
        failover = time.monotonic() - dead_at
        later.join()
        may_repeat = accepted_but_unrecorded(world)
        wait_until(
            "every mail processed and every notice at the relay",
            lambda: settled(world),
            state=lambda: state_of(world),
        )
    finally:
        world.sink.release()
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        exits = {name: proc.wait(timeout=60) for name, proc in procs.items()}
    assert unfinished > 0, "the kill left no work half done: the test lost its point"
    assert failover <= FAILOVER_SECONDS, f"mailbox taken over after {failover:.1f} s"
    assert sorted(exits.values()) == [-signal.SIGKILL, 0, 0], exits

    # Every message stored once, as one ticket.
    inbound = world.query("SELECT message_id, state FROM inbound")
    expected = sorted(f"<three-{n}@test.example>" for n in range(MAILS))
    assert sorted(m for m, _ in inbound) == expected
    assert {s for _, s in inbound} == {"done"}
    assert count(world, "SELECT count(*) FROM ticket") == MAILS
    messages = [m for (m,) in world.query("SELECT message_id FROM message")]
    assert len(messages) == len(set(messages)) == MAILS
    # Every notice queued once per ticket and kind, and delivered once.
    queued = world.query(f"SELECT ticket_id, kind, recipients FROM outbox WHERE {NOTICES}")
    assert len(queued) == len(set(queued))
    assert len({(t, k) for t, k, _ in queued}) == 2 * MAILS
    repeated = {m: n for m, n in Counter(received_ids(world)).items() if n > 1}
    assert set(repeated) <= may_repeat, f"sent twice: {sorted(repeated)}"
    assert all(n == 2 for n in repeated.values()), repeated
    # The work was shared: more than one process's log shows mail it processed or sent.
    # Sends alone were timing-bound: the relay held the killed holder's mail until its
    # death, and a fast survivor could send all the rest before the third polled.
    logs = {p.name: p.read_text() for p in world.tmp.glob("worker*.log")}
    took_part = [n for n, text in logs.items() if " sent → " in text or " done ticket=" in text]
    assert len(took_part) >= 2, took_part
    assert count(world, "SELECT count(*) FROM worker") == 0  # clean stops and the dead one reaped
    # Nothing left unseen on the server.
    with world.dovecot.client(world.user) as client:
        client.select_folder("INBOX")
        assert client.search("UNSEEN") == []
    print(f"three workers: mailbox taken over {failover:.1f} s after the kill, {unfinished} left")
