"""Migration 0012 (issue 12): the ticket_check table of the automatic checks; a database holding
release 0.1.0's data keeps every row up and down (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from mailtickets.db import connect
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0012_adds_the_ticket_check_table_and_loses_nothing(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0011")
    before = rows_at(database_url)
    assert before["ticket"]
    upgrade(database_url, "0012")
    assert revision_at(database_url) == ["0012"]
    assert lost_rows(before, rows_at(database_url)) == {}
    engine = connect(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("ticket_check")}
    assert {"ticket_id", "round", "name", "state", "findings", "reported_at"} <= columns
    indexes = {i["name"] for i in inspect(engine).get_indexes("ticket_check")}
    assert {"ix_ticket_check_state", "ix_ticket_check_reported_at"} <= indexes
    with engine.begin() as conn:  # a check of a ticket the release already had
        conn.execute(
            text(
                "INSERT INTO ticket_check (ticket_id, round, name, state, targets, findings, "
                "queued_at, deadline) SELECT min(id), 1, 'dns', 'pending', '{}', '', :t, :t "
                "FROM ticket"
            ),
            {"t": "2026-12-01 09:30:00+00:00"},
        )
    engine.dispose()
    downgrade(database_url, "0011")
    assert revision_at(database_url) == ["0011"]
    assert lost_rows(rows_at(database_url), before) == {}
    engine = connect(database_url)
    assert "ticket_check" not in inspect(engine).get_table_names()
    engine.dispose()
