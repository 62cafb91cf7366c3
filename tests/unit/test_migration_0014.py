"""Migration 0014 (issue 9): an outbox mail's bytes move to outboxbody, none lost."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from mailtickets import store
from mailtickets.db import open_database, transaction
from tests.migrations import (
    RELEASE_0_1_0,
    downgrade,
    lost_rows,
    raw_by_id,
    revision_of,
    upgrade_holding_data,
)


def test_0014_moves_every_mail_of_the_outbox_byte_for_byte(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    dumped = tmp_path / "before.db"
    upgrade_holding_data(RELEASE_0_1_0, dumped, "0013")
    before = raw_by_id(dumped, "SELECT id, raw FROM outbox")
    assert before and all(before.values())
    rows_before, rows_after = upgrade_holding_data(RELEASE_0_1_0, db, "0014")
    assert lost_rows(rows_before, rows_after) == {}
    assert revision_of(db) == ["0014"]
    assert raw_by_id(db, "SELECT outbox_id, raw FROM outboxbody") == before
    with closing(sqlite3.connect(db)) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(outbox)")]
    assert "raw" not in columns and "state" in columns and "claimed_by" in columns
    engine = open_database(f"sqlite:///{db}")
    with transaction(engine) as session:  # read as the daemon reads it
        assert store.outbox_bodies(session, list(before)) == before
        assert {i: store.outbox_raw(session, i) for i in before} == before
    engine.dispose()


def test_0014_downgrades_to_0013_with_the_bytes_back_in_the_outbox(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    upgrade_holding_data(RELEASE_0_1_0, db, "0014")
    moved = raw_by_id(db, "SELECT outbox_id, raw FROM outboxbody")
    downgrade(db, "0013")
    assert revision_of(db) == ["0013"]
    assert raw_by_id(db, "SELECT id, raw FROM outbox") == moved
