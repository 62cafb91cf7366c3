"""Migration 0013 (issues 12 and 13): the customer's plan and domains, time entries and
ratings; a database holding release 0.1.0's data keeps every row up and down."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from mailtickets.db import connect
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0013_adds_plan_domains_time_and_ratings_and_loses_nothing(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0012")
    before = rows_at(database_url)
    assert before["ticket"]
    upgrade(database_url, "0013")
    assert revision_at(database_url) == ["0013"]
    assert lost_rows(before, rows_at(database_url)) == {}
    engine = connect(database_url)
    customer = {c["name"] for c in inspect(engine).get_columns("customer")}
    assert {"plan", "domains"} <= customer
    with engine.connect() as conn:  # the release's customers: no plan, no domains
        kept = conn.execute(text("SELECT DISTINCT plan, domains FROM customer")).all()
    assert [tuple(row) for row in kept] == [("", "[]")]
    tables = set(inspect(engine).get_table_names())
    assert {"time_entry", "rating"} <= tables
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO time_entry (ticket_id, staff, minutes, at, message_id) "
                "SELECT min(id), 'ana@x.es', 25, :t, '<m@x>' FROM ticket"
            ),
            {"t": "2026-12-01 09:30:00+00:00"},
        )
    engine.dispose()
    downgrade(database_url, "0012")
    assert revision_at(database_url) == ["0012"]
    assert lost_rows(rows_at(database_url), before) == {}
    engine = connect(database_url)
    assert not {"time_entry", "rating"} & set(inspect(engine).get_table_names())
    assert "plan" not in {c["name"] for c in inspect(engine).get_columns("customer")}
    engine.dispose()
