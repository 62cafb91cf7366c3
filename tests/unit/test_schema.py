"""Versioned schema (issue 15): alembic revisions, 0.1.0 databases stamped, newer ones refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlmodel import SQLModel

from mailtickets import schema, store
from mailtickets.db import connect, open_database, transaction
from mailtickets.errors import ConfigError
from tests.conftest import both_databases
from tests.migrations import (
    RELEASE_0_1_0,
    all_rows,
    database_at,
    load_dump,
    lost_rows,
    revision_at,
    revision_of,
    rows_at,
    upgrade,
    upgrade_holding_data,
)


def schema_sql(db: Path) -> list[tuple[str, str, str | None]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(
            conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '%alembic_version%'"
                " ORDER BY type, name"
            )
        )


@both_databases
def test_head_matches_the_models_exactly(database_url: str) -> None:
    # Protects every future migration: head must build what models.py declares.
    engine = open_database(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_the_baseline_is_exactly_the_schema_release_0_1_0_made(tmp_path: Path) -> None:
    database_at(tmp_path / "built.db", schema.BASELINE)
    load_dump(RELEASE_0_1_0, tmp_path / "release.db")
    assert schema_sql(tmp_path / "built.db") == schema_sql(tmp_path / "release.db")


@both_databases
def test_a_new_database_is_brought_to_head(database_url: str) -> None:
    engine = open_database(database_url)
    engine.dispose()
    assert revision_at(database_url) == [schema.head()]
    assert set(rows_at(database_url)) == set(SQLModel.metadata.tables)


def test_foreign_keys_are_on_again_after_the_upgrade_and_memory_databases_work() -> None:
    engine = open_database("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("SELECT count(*) FROM ticket").scalar() == 0
    engine.dispose()


def test_a_release_0_1_0_database_is_stamped_with_every_row_intact(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    url = load_dump(RELEASE_0_1_0, db)
    before = all_rows(db)
    assert set(before) == schema.BASELINE_TABLES and all(before.values())  # data in every table
    engine = open_database(url)
    after = all_rows(db)
    assert lost_rows(before, after) == {}
    assert revision_of(db) == [schema.head()]
    with transaction(engine) as session:
        tickets = store.list_tickets(session, None, None)
        assert len(tickets) == len(before["ticket"])
        assert all(t.created_at.tzinfo is not None for t in tickets)
    engine.dispose()
    engine = open_database(url)  # the second start changes nothing
    engine.dispose()
    assert all_rows(db) == after


def test_upgrade_holding_data_keeps_every_row_of_release_0_1_0(tmp_path: Path) -> None:
    before, after = upgrade_holding_data(RELEASE_0_1_0, tmp_path / "mt.db")
    assert lost_rows(before, after) == {}
    kept = {table: rows for table, rows in after.items() if table in before}
    assert sum(len(rows) for rows in kept.values()) == sum(len(r) for r in before.values())


def test_0002_makes_one_random_verp_key_per_installation(tmp_path: Path) -> None:
    _, first = upgrade_holding_data(RELEASE_0_1_0, tmp_path / "a.db", "0002")
    _, second = upgrade_holding_data(RELEASE_0_1_0, tmp_path / "b.db", "0002")
    (key_a,), (key_b,) = first["sitesecret"], second["sitesecret"]
    assert key_a["name"] == key_b["name"] == "verp"
    assert len(key_a["value"]) == 64 and key_a["value"] != key_b["value"]


def test_lost_rows_notices_a_changed_value_and_a_missing_row() -> None:
    before = {"ticket": [{"id": 1, "code": "SOP-A"}, {"id": 2, "code": "SOP-B"}]}
    grown = {"ticket": [{"id": 1, "code": "SOP-A", "new": 0}, {"id": 2, "code": "SOP-B", "new": 0}]}
    assert lost_rows(before, grown) == {}  # an added column is not a lost row
    changed = {"ticket": [{"id": 1, "code": "SOP-A"}, {"id": 2, "code": "SOP-X"}]}
    assert lost_rows(before, changed) == {"ticket": [{"id": 2, "code": "SOP-B"}]}
    assert lost_rows(before, {"ticket": [{"id": 1, "code": "SOP-A"}]}) != {}


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    database_at(db, "head")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigError) as refused:
        open_database(f"sqlite:///{db}")
    message = str(refused.value)
    assert "9999" in message and f"head {schema.head()}" in message and str(db) in message
    assert "upgrade mailtickets" in message and "\n" not in message
    assert revision_of(db) == ["9999"]  # untouched


def test_some_but_not_all_tables_is_not_taken_for_release_0_1_0(tmp_path: Path) -> None:
    db = tmp_path / "mt.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE ticket (id INTEGER PRIMARY KEY)")
    with pytest.raises(ConfigError, match="not attachment, checkpoint"):
        open_database(f"sqlite:///{db}")


@both_databases
def test_at_head_a_start_reads_only_alembic_version(database_url: str) -> None:
    upgrade(database_url, "head")
    engine = connect(database_url)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    schema.ensure_head(engine)
    engine.dispose()
    assert statements == ["SELECT version_num FROM alembic_version"]


STARTER = """
import sys, time
from mailtickets.db import open_database
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
open_database(sys.argv[1]).dispose()
"""


@both_databases
def test_processes_starting_together_on_a_new_database_all_succeed(database_url: str) -> None:
    url = database_url
    start = time.time() + 3  # after every interpreter has imported mailtickets
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [proc.communicate(timeout=90) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert revision_at(url) == [schema.head()]
