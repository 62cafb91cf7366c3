"""Migration 0010 (issue 11): the mailbox of each ticket and outbox row. Rows from before
name none, which means the first configured mailbox; nothing is lost up or down (SQLite,
PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from mailtickets.db import connect
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0010_keeps_every_row_and_old_ones_name_no_mailbox(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0009")
    before = rows_at(database_url)
    assert before["ticket"] and before["outbox"]  # the release's data is there to keep
    upgrade(database_url, "0010")
    after = rows_at(database_url)
    assert revision_at(database_url) == ["0010"]
    assert lost_rows(before, after) == {}
    assert {row["mailbox"] for row in after["ticket"]} == {None}
    assert {row["mailbox"] for row in after["outbox"]} == {None}
    engine = connect(database_url)
    with engine.begin() as conn:  # a ticket of the new mailbox, and its mail
        conn.execute(
            text(
                "UPDATE ticket SET mailbox = 'facturacion' WHERE id = (SELECT min(id) FROM ticket)"
            )
        )
        conn.execute(
            text(
                "UPDATE outbox SET mailbox = 'facturacion' WHERE id = (SELECT min(id) FROM outbox)"
            )
        )
    engine.dispose()
    at_0010 = rows_at(database_url)
    assert "facturacion" in {row["mailbox"] for row in at_0010["ticket"]}
    downgrade(database_url, "0009")
    assert revision_at(database_url) == ["0009"]
    # Every row of 0010 is still there but for its mailbox.
    assert lost_rows(rows_at(database_url), at_0010) == {}
