"""Migration 0009 (issue 10): each inbound mail's sender, so one sender's mails are never
processed by two workers at once; rows from before wait for nothing (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text

from mailtickets import store
from mailtickets.db import connect, open_database, transaction
from mailtickets.models import Inbound
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0009_keeps_every_row_gives_old_ones_no_sender_and_indexes_it(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0008")
    engine = connect(database_url)
    with engine.begin() as conn:  # a mail left pending by a worker of 0008, now gone
        first = conn.execute(text("SELECT min(id) FROM inbound")).scalar_one()
        conn.execute(text("UPDATE inbound SET state = 'pending' WHERE id = :id"), {"id": first})
    engine.dispose()
    before = rows_at(database_url)
    upgrade(database_url, "0009")
    after = rows_at(database_url)
    assert revision_at(database_url) == ["0009"]
    assert lost_rows(before, after) == {}
    assert {row["sender"] for row in after["inbound"]} == {""}
    engine = open_database(database_url)
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("inbound")}
    assert indexes["ix_inbound_sender_id"] == ["sender", "id"]
    now = datetime.now(UTC)
    with transaction(engine) as session:  # a new mail of some sender: nothing old holds it
        row = Inbound(mailbox="m", uidvalidity=9, uid=1, dedup_key="new", fetched_at=now)
        row.sender = "lucia@estudiolucia.es"
        store.add_inbound(session, row, b"From: lucia@estudiolucia.es\\r\\n\\r\\nhola\\r\\n")
    someone = store.Attempter("mx9:1:abcd", now)
    with transaction(engine) as session:
        assert [i for i, _ in store.pending_inbound(session, 10, 0, someone)] == [first, row.id]
    engine.dispose()
    at_0009 = rows_at(database_url)
    downgrade(database_url, "0008")
    # Every row of 0009, the new mail's included, is still there but for its sender.
    assert lost_rows(rows_at(database_url), at_0009) == {}
