"""SIGKILL `mailtickets run` at random moments mid-batch: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from mailtickets.outbox import CLAIM_LEASE
from tests.conftest import World, eml_variant

TRIALS = 24
PER_TRIAL = 6
MAILS = TRIALS * PER_TRIAL


def db_rows(world: World, query: str) -> list[tuple[Any, ...]]:
    path = world.tmp / "mt.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        try:
            return list(conn.execute(query))
        except sqlite3.OperationalError:  # killed before the schema was made
            return []


def unfinished(world: World, delivered: int) -> bool:
    """Whether the kill left anything half done: unsaved, unprocessed or unsent mail."""
    done = db_rows(world, "SELECT count(*) FROM inbound WHERE state = 'done'")
    sent = db_rows(world, "SELECT count(*) FROM outbox WHERE state = 'sent'")
    return bool((done or [(0,)])[0][0] < delivered or (sent or [(0,)])[0][0] < 2 * delivered)


def test_killing_the_daemon_mid_batch_loses_and_duplicates_nothing(world: World) -> None:
    seed = int(os.environ.get("MT_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    text = world.config.read_text().replace('folder = "INBOX"', 'folder = "INBOX"\nbatch_size = 4')
    # The same five senders write ~20 mails each: lift the hourly auto-reply limit.
    text = text.replace(
        'unknown_senders = "open"', 'unknown_senders = "open"\nmax_auto_replies_per_hour = 1000'
    )
    world.config.write_text(text)
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
    kills = mid_work = 0
    for trial in range(TRIALS):
        for n in range(trial * PER_TRIAL, (trial + 1) * PER_TRIAL):
            world.deliver(eml_variant(n, "crash"))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        mid_work += unfinished(world, (trial + 1) * PER_TRIAL)
    assert kills >= 20, f"seed {seed}: only {kills} kills landed"
    assert mid_work >= 5, f"seed {seed}: only {mid_work} kills caught work in progress"
    print(f"crash test seed {seed}: {kills} kills, {mid_work} with work in progress")
    code, _, err = world.cli("run", "--once")  # let it finish
    assert code == 0, f"seed {seed}: {err[-1500:]}"
    # Outbox rows a killed process had claimed wait out their lease, then go.
    after_lease = datetime.now(UTC) + CLAIM_LEASE + timedelta(minutes=1)
    code, _, err = world.cli("sweep", "--at", after_lease.isoformat())
    assert code == 0, f"seed {seed}: {err[-1500:]}"

    # Every message is stored exactly once, as exactly one ticket.
    inbound = db_rows(world, "SELECT message_id, state FROM inbound")
    assert sorted(m for m, _ in inbound) == sorted(
        f"<crash-{n}@test.example>" for n in range(MAILS)
    ), f"seed {seed}"
    assert {s for _, s in inbound} == {"done"}, f"seed {seed}"
    messages = db_rows(world, "SELECT message_id FROM message")
    assert len(messages) == len(set(messages)) == MAILS, f"seed {seed}"
    assert db_rows(world, "SELECT count(*) FROM ticket") == [(MAILS,)], f"seed {seed}"
    # Every notification is queued once: an acknowledgement and a staff notice per ticket.
    queued = db_rows(world, "SELECT ticket_id, kind, state FROM outbox")
    per_ticket = sorted((t, k) for t, k, _ in queued)
    assert per_ticket == sorted({(t, k) for t, k, _ in queued}), f"seed {seed}: doubled"
    assert len(per_ticket) == 2 * MAILS and {s for _, _, s in queued} == {"sent"}, f"seed {seed}"
    # Every queued mail reached the relay; a kill between the relay's 250 and our commit
    # can resend one (same Message-ID), which is the documented at-least-once edge.
    sent_ids = {str(r.message["Message-ID"]).strip() for r in world.sink.received}
    assert {m for (m,) in db_rows(world, "SELECT message_id FROM outbox")} <= sent_ids
    # Nothing is left unprocessed on the server.
    with world.dovecot.client(world.user) as client:
        client.select_folder("INBOX")
        assert client.search(["UNSEEN"]) == [], f"seed {seed}"
