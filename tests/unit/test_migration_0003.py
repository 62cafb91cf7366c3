"""Migration 0003 (issue 14): worker heartbeats and outbox claims, every existing row intact."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from mailtickets import store
from mailtickets.db import open_database, transaction
from mailtickets.workers import Heartbeat
from tests.migrations import (
    RELEASE_0_1_0,
    all_rows,
    database_at,
    downgrade,
    lost_rows,
    revision_of,
    upgrade,
    upgrade_holding_data,
)

PENDING_AT_0002 = """
INSERT INTO outbox (id, ticket_id, kind, message_id, envelope_from, recipients, raw, state,
                    automatic, attempts, next_attempt_at, last_error, created_at)
VALUES (1, NULL, 'quarantine_report', '<q1@hostingejemplo.es>', 'soporte@hostingejemplo.es',
        '["ops@hostingejemplo.es"]', X'00', 'pending', 1, 2, '2026-11-23 09:15:00.000000',
        '451 try later', '2026-11-23 09:05:00.000000')
"""


def test_0003_keeps_every_row_of_release_0_1_0_and_claims_none(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    before, after = upgrade_holding_data(RELEASE_0_1_0, db, "0003")
    assert revision_of(db) == ["0003"]
    assert lost_rows(before, after) == {}
    assert after["worker"] == []
    assert len(after["outbox"]) == len(before["outbox"]) == 10
    assert {(r["claimed_by"], r["claimed_at"]) for r in after["outbox"]} == {(None, None)}
    assert set(after) == set(before) | {"worker", "sitesecret"}


def test_a_mail_pending_before_0003_is_due_and_claimable_after_it(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    url = database_at(db, "0002")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(PENDING_AT_0002)
    before = all_rows(db)
    upgrade(url, "0003")
    assert lost_rows(before, all_rows(db)) == {}
    engine = open_database(url)
    with Heartbeat(engine) as worker, transaction(engine) as session:
        live_since = worker.live_since()
        now = datetime.now(UTC)
        (row,) = store.due_outbox(session, now, 10, live_since, worker.id)
        assert row.attempts == 2  # pending and due: due_outbox found it
        assert store.outbox_rows(session)[0].last_error == "451 try later"
        assert store.claim_outbox(session, [1], worker.id, now, live_since, now) == [1]
    engine.dispose()


def test_0003_downgrades_to_0002_keeping_every_row(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    before, _ = upgrade_holding_data(RELEASE_0_1_0, db, "0003")
    downgrade(db, "0002")
    assert revision_of(db) == ["0002"]
    after = all_rows(db)
    assert "worker" not in after and "claimed_by" not in after["outbox"][0]
    assert lost_rows(before, after) == {}
