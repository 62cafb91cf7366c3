"""A relay found down is not asked again within the flush: a relay that swallows
connections costs its timeout at each ask, and the other relays' mail in the same batches
must not wait for it batch after batch."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine

from mailtickets import outbox
from mailtickets.settings import SmtpSettings
from mailtickets.store import OutboxRow
from mailtickets.workers import Heartbeat
from tests.conftest import both_databases
from tests.outbox_rows import queue
from tests.servers import SmtpSink


def relay(port: int) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, "none", "soporte@hostingejemplo.es", batch_size=2)


@both_databases
def test_a_relay_found_down_is_asked_once_a_flush(engine: Engine) -> None:
    # Facturación's and ventas's mail go through the same relay, which is down; soporte's
    # through [smtp], which works. Each batch of three holds one row of each mailbox.
    works, down = SmtpSink().start(), SmtpSink().start()
    down.max_sessions = 0  # every connection answered 421, and counted
    shared = replace(relay(down.port), connections=1)
    try:
        ids = queue(engine, 9)
        with engine.begin() as conn:
            for mailbox, mine in (("facturacion", ids[1::3]), ("ventas", ids[2::3])):
                conn.execute(
                    text("UPDATE outbox SET mailbox = :box WHERE id IN (:a, :b, :c)"),
                    {"box": mailbox, "a": mine[0], "b": mine[1], "c": mine[2]},
                )
        with Heartbeat(engine) as worker:
            report = outbox.flush(
                replace(relay(works.port), batch_size=3),
                engine,
                datetime.now(UTC),
                worker,
                relays={"facturacion": shared, "ventas": shared},
            )
    finally:
        works.stop()
        down.stop()
    assert (report.sent, report.retried, report.failed) == (3, 6, 0)
    assert len(works.received) == 3
    # The two mailboxes' relays ask at once in the first batch, and never again.
    assert down.refused_sessions == 2
    assert report.retried_by_relay == ((f"127.0.0.1:{down.port}", 6),)
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT id, attempts, last_error FROM outbox WHERE state = 'pending' ORDER BY id")
        ).all()
    assert [(i, a) for i, a, _ in left] == [(i, 1) for i in ids if i not in ids[::3]]
    assert all(f"127.0.0.1:{down.port}" in error for *_, error in left)
    asked = [not e.endswith("(not asked again in this flush)") for *_, e in left]
    assert asked == [True, True] + [False] * 4


async def _send_three(sink: SmtpSink) -> list[list[str]]:
    """Three sends over one _Relay: the relay takes the first, has gone away at the
    second (its connection closed, the port shut), and is back at the third."""
    relay_ = outbox._Relay(replace(relay(sink.port), connections=1), lambda: "k" * 32)
    results = []
    for n in range(3):
        if n == 1:
            sink.stop()
            for client in relay_.clients:
                client.close()
        if n == 2:
            sink.restart()
        row = OutboxRow(n + 1, None, "ack", f"<m{n}@test.example>", '["a@example.com"]', None, 0)
        done = await relay_.send([row], {row.id: b"Subject: x\r\n\r\nx\r\n"}, lambda: True)
        results.append([a.result for a in done])
    await relay_.close()
    return results


def test_a_relay_that_took_mail_earlier_in_the_flush_is_asked_again() -> None:
    # Its failure after it took mail may be passing: the next batch asks it again.
    sink = SmtpSink().start()
    try:
        assert asyncio.run(_send_three(sink)) == [["sent"], ["retry"], ["sent"]]
    finally:
        sink.stop()
    assert len(sink.received) == 2


class Swallowing:
    """A port that accepts connections, notes when, and never says a word: a relay behind
    a firewall that drops what it should refuse."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[float] = []
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted.append(time.monotonic())
            self.held.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_two_relays_that_swallow_connections_cost_a_batch_one_timeout(engine: Engine) -> None:
    first, second = Swallowing(), Swallowing()
    timeout = 3.0
    try:
        ids = queue(engine, 2)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE outbox SET mailbox = 'ventas' WHERE id = :id"), {"id": ids[1]}
            )
        with Heartbeat(engine) as worker:
            report = outbox.flush(
                replace(relay(first.port), timeout=timeout),
                engine,
                datetime.now(UTC),
                worker,
                relays={"ventas": replace(relay(second.port), timeout=timeout)},
            )
    finally:
        first.stop()
        second.stop()
    assert (report.sent, report.retried) == (0, 2)
    assert len(first.accepted) == len(second.accepted) == 1
    # Both asked before the first gave up: one after the other, the second would have
    # waited out the first's whole timeout.
    assert abs(second.accepted[0] - first.accepted[0]) < timeout / 2
