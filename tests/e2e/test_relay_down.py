"""A relay found down is not asked again within the flush: a relay that swallows
connections costs its timeout at each ask, and the other relays' mail in the same batches
must not wait for it batch after batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from mailtickets import outbox
from mailtickets.db import open_database
from mailtickets.settings import SmtpSettings
from mailtickets.workers import Heartbeat
from tests.conftest import both_databases
from tests.outbox_rows import queue
from tests.servers import SmtpSink


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def relay(port: int) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, "none", "soporte@hostingejemplo.es", batch_size=2)


@both_databases
def test_a_mailbox_relay_found_down_is_asked_once_a_flush(engine: Engine) -> None:
    works, down = SmtpSink().start(), SmtpSink().start()
    down.max_sessions = 0  # every connection answered 421, and counted
    try:
        ids = queue(engine, 6)
        # Every other row is facturación's: each batch of two holds one row of each relay.
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE outbox SET mailbox = 'facturacion' WHERE id IN (:a, :b, :c)"),
                {"a": ids[1], "b": ids[3], "c": ids[5]},
            )
        with Heartbeat(engine) as worker:
            report = outbox.flush(
                relay(works.port),
                engine,
                datetime.now(UTC),
                worker,
                relays={"facturacion": replace(relay(down.port), connections=1)},
            )
    finally:
        works.stop()
        down.stop()
    assert (report.sent, report.retried, report.failed) == (3, 3, 0)
    assert len(works.received) == 3
    assert down.refused_sessions == 1  # three batches, one ask
    assert report.retried_by_relay == ((f"127.0.0.1:{down.port}", 3),)
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT id, state, attempts, last_error FROM outbox WHERE mailbox IS NOT NULL")
        ).all()
    assert [(i, s, a) for i, s, a, _ in left] == [(i, "pending", 1) for i in ids[1::2]]
    assert all(f"127.0.0.1:{down.port}" in error for *_, error in left)
