"""Migration 0006 (issue 10): `mailbox_watch`, a new table; every existing row intact."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from mailtickets.db import open_database, transaction
from mailtickets.models import Checkpoint, MailboxWatch
from mailtickets.watch import MailboxLease
from mailtickets.workers import Heartbeat
from tests.migrations import (
    RELEASE_0_1_0,
    database_at,
    downgrade,
    lost_rows,
    revision_of,
    upgrade_holding_data,
)


def tables(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_0006_keeps_every_row_and_the_mailbox_of_a_checkpoint_can_be_held(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    before, after = upgrade_holding_data(RELEASE_0_1_0, db, "0006")
    assert revision_of(db) == ["0006"]
    assert lost_rows(before, after) == {}
    assert after["mailbox_watch"] == []  # nobody holds a mailbox until a worker takes it
    at_0005 = tables(Path(database_at(tmp_path / "0005.db", "0005").removeprefix("sqlite:///")))
    assert set(after) == at_0005 - {"alembic_version"} | {"mailbox_watch"}
    assert after["checkpoint"], "the dump reads a mailbox: its checkpoint must be there"
    engine = open_database(f"sqlite:///{db}")
    with transaction(engine) as session:
        (point,) = session.exec(select(Checkpoint)).all()
    with Heartbeat(engine, every=timedelta(hours=1)) as worker:
        lease = MailboxLease(engine, point.mailbox, worker)
        assert lease.hold().ours
        lease.fetched()
    with transaction(engine) as session:
        row = session.get(MailboxWatch, point.mailbox)
        assert row is not None and row.last_fetch_at is not None
    engine.dispose()


def test_0006_downgrades_to_0005_without_the_table(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    upgrade_holding_data(RELEASE_0_1_0, db, "0006")
    downgrade(db, "0005")
    assert revision_of(db) == ["0005"]
    assert "mailbox_watch" not in tables(db)
