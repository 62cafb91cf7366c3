"""Migration 0005 (issue 9): an inbound mail's bytes move to inboundbody, none lost."""

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


def test_0005_moves_every_mail_of_release_0_1_0_byte_for_byte(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    dumped = tmp_path / "before.db"
    upgrade_holding_data(RELEASE_0_1_0, dumped, "0004")
    before = raw_by_id(dumped, "SELECT id, raw FROM inbound")
    assert before and all(before.values())
    rows_before, rows_after = upgrade_holding_data(RELEASE_0_1_0, db, "0005")
    assert lost_rows(rows_before, rows_after) == {}
    assert revision_of(db) == ["0005"]
    assert raw_by_id(db, "SELECT inbound_id, raw FROM inboundbody") == before
    with closing(sqlite3.connect(db)) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(inbound)")]
    assert "raw" not in columns and "state" in columns
    engine = open_database(f"sqlite:///{db}")
    with transaction(engine) as session:  # read as the daemon reads it
        assert {i: store.inbound_raw(session, i) for i in before} == before
    engine.dispose()


def test_0005_downgrades_to_0004_with_the_bytes_back_in_inbound(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    upgrade_holding_data(RELEASE_0_1_0, db, "0005")
    moved = raw_by_id(db, "SELECT inbound_id, raw FROM inboundbody")
    downgrade(db, "0004")
    assert revision_of(db) == ["0004"]
    assert raw_by_id(db, "SELECT id, raw FROM inbound") == moved
