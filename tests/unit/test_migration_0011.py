"""Migration 0011 (issue 11): the alert table for refused credentials; a database holding
release 0.1.0's data keeps every row up and down (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from mailtickets.db import connect
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0011_adds_the_alert_table_and_loses_nothing(database_url: str, tmp_path: Path) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0010")
    before = rows_at(database_url)
    assert before["ticket"]
    upgrade(database_url, "0011")
    assert revision_at(database_url) == ["0011"]
    assert lost_rows(before, rows_at(database_url)) == {}
    engine = connect(database_url)
    assert {c["name"] for c in inspect(engine).get_columns("alert")} == {
        "key",
        "detail",
        "raised_at",
        "cleared_at",
    }
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO alert (key, detail, raised_at) VALUES ('imap:soporte', 'x', :t)"),
            {"t": "2026-12-01 09:30:00+00:00"},
        )
    engine.dispose()
    downgrade(database_url, "0010")
    assert revision_at(database_url) == ["0010"]
    assert lost_rows(rows_at(database_url), before) == {}
    engine = connect(database_url)
    assert "alert" not in inspect(engine).get_table_names()
    engine.dispose()
