"""Migration 0004 (issue 9): automatic replies counted from an index, every row intact."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailtickets import store
from mailtickets.db import open_database, transaction
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

QUEUED_AT_0003 = """
INSERT INTO outbox (id, ticket_id, kind, message_id, envelope_from, recipients, raw, state,
                    automatic, attempts, next_attempt_at, last_error, created_at)
VALUES (?, NULL, 'ack', ?, 'soporte@hostingejemplo.es', ?, X'00', 'sent', ?, 1, ?, '', ?)
"""


def _at(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_0004_keeps_every_row_of_release_0_1_0(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    before, after = upgrade_holding_data(RELEASE_0_1_0, db, "0004")
    assert revision_of(db) == ["0004"]
    assert lost_rows(before, after) == {}
    # The release's mail is days old: nothing of it counts against this hour's limit.
    assert after["automail"] == []


def test_automatic_replies_of_the_last_hour_still_count_after_the_upgrade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "mt.db"
    url = database_at(db, "0003")
    now = datetime.now(UTC)
    rows = [
        # An acknowledgement and a reminder to Ana within the hour, one to both two hours
        # ago, and a mail a person wrote (not automatic): only the first two count.
        (1, "<a1@x>", '["ana@cliente.es"]', 1, now - timedelta(minutes=5)),
        (2, "<a2@x>", '["ana@cliente.es", "luis@cliente.es"]', 1, now - timedelta(minutes=50)),
        (3, "<a3@x>", '["ana@cliente.es", "luis@cliente.es"]', 1, now - timedelta(hours=2)),
        (4, "<a4@x>", '["ana@cliente.es"]', 0, now - timedelta(minutes=1)),
    ]
    with closing(sqlite3.connect(db)) as conn, conn:
        for oid, mid, to, automatic, at in rows:
            conn.execute(QUEUED_AT_0003, (oid, mid, to, automatic, _at(at), _at(at)))
    before = all_rows(db)
    upgrade(url, "0004")
    assert lost_rows(before, all_rows(db)) == {}
    engine = open_database(url)
    since = now - timedelta(hours=1)
    with transaction(engine) as session:
        assert store.automatic_mail_count(session, "ana@cliente.es", since) == 2
        assert store.automatic_mail_count(session, "luis@cliente.es", since) == 1
        assert store.automatic_mail_count(session, "otro@cliente.es", since) == 0
    engine.dispose()


def test_0004_downgrades_to_0003_keeping_every_row(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    before, _ = upgrade_holding_data(RELEASE_0_1_0, db, "0004")
    downgrade(db, "0003")
    assert revision_of(db) == ["0003"]
    after = all_rows(db)
    assert "automail" not in after
    assert lost_rows(before, after) == {}
