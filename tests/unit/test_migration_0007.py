"""Migration 0007 (issue 10): who counted an inbound row's attempt; rows from before are
anyone's to retry, as they were, and every row is kept (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from mailtickets import store
from mailtickets.db import connect, open_database, transaction
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0007_keeps_every_row_and_an_earlier_retry_is_anyones(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0006")
    engine = connect(database_url)
    with engine.begin() as conn:  # a mail a worker of 0006 tried once and died on
        retried = conn.execute(text("SELECT min(id) FROM inbound")).scalar_one()
        conn.execute(
            text("UPDATE inbound SET state = 'pending', attempts = 1 WHERE id = :id"),
            {"id": retried},
        )
    engine.dispose()
    before = rows_at(database_url)
    upgrade(database_url, "0007")
    after = rows_at(database_url)
    assert revision_at(database_url) == ["0007"]
    assert lost_rows(before, after) == {}
    assert {row["attempted_by"] for row in after["inbound"]} == {None}
    engine = open_database(database_url)
    someone = store.Attempter("mx9:1:abcd", datetime.now(UTC))
    with transaction(engine) as session:
        assert store.pending_inbound(session, 10, 0, someone) == [(retried, 1)]
    engine.dispose()
    downgrade(database_url, "0006")
    assert lost_rows(before, rows_at(database_url)) == {}
