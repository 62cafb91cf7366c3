"""Upgrading a database that holds data: the helpers every migration's test uses.

A new migration's test loads a dump (or builds a database at the revision before it with
`database_at`, then inserts rows), runs `upgrade_holding_data`, and asserts
`lost_rows(before, after) == {}` plus whatever the migration itself promises.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from alembic import command

from mailtickets import schema
from mailtickets.db import connect

DUMPS = Path(__file__).parent / "data" / "db"
RELEASE_0_1_0 = DUMPS / "release-0.1.0.sql"  # made by tests/data/db/make_release_0_1_0.py

Row = dict[str, Any]
Rows = dict[str, list[Row]]


def load_dump(dump: Path, db: Path) -> str:
    """A new SQLite file at `db` holding `dump` (`sqlite3 .dump` text); its URL."""
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(dump.read_text(encoding="utf-8"))
    return f"sqlite:///{db}"


def database_at(db: Path, revision: str) -> str:
    """A new SQLite file at `db` whose schema is `revision`; its URL."""
    url = f"sqlite:///{db}"
    upgrade(url, revision)
    return url


def upgrade(url: str, target: str = "head") -> schema.Revisions:
    engine = connect(url)
    try:
        return schema.upgrade(engine, target)
    finally:
        engine.dispose()


def downgrade(db: Path, target: str) -> None:
    """Downgrade the SQLite file `db` to `target`, foreign keys off as schema.py upgrades."""
    engine = connect(f"sqlite:///{db}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # SQLite's batch recipe
        command.downgrade(schema.alembic_config(conn), target)
        conn.commit()
    engine.dispose()


def upgrade_holding_data(dump: Path, db: Path, target: str = "head") -> tuple[Rows, Rows]:
    """Load `dump` into `db`, upgrade it to `target`; every row before and after."""
    url = load_dump(dump, db)
    before = all_rows(db)
    upgrade(url, target)
    return before, all_rows(db)


def all_rows(db: Path) -> Rows:
    """Every row of every table (alembic's own aside), by column name, in key order; an
    inbound row with its bytes, wherever the schema keeps them."""
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name"
            )
        ]
        rows = {
            table: [dict(row) for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1')]
            for table in tables
        }
    # Since 0005 an inbound mail's bytes live in inboundbody: they still count as the row's.
    bodies = {body["inbound_id"]: body["raw"] for body in rows.get("inboundbody", [])}
    for row in rows.get("inbound", []):
        if "raw" not in row and row["id"] in bodies:
            row["raw"] = bodies[row["id"]]
    return rows


def lost_rows(before: Rows, after: Rows) -> Rows:
    """Rows of `before` that `after` no longer holds with every old column's value.

    Columns a migration added are ignored, so the check stays true as the schema grows.
    """
    lost: Rows = {}
    for table, rows in before.items():
        kept = after.get(table, [])
        gone = [row for row in rows if not any(row.items() <= new.items() for new in kept)]
        if gone or len(kept) != len(rows):
            lost[table] = gone or [{"rows before": len(rows), "rows after": len(kept)}]
    return lost


def revision_of(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
