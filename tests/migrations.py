"""Upgrading a database that holds data: the helpers every migration's test uses.

A new migration's test loads a dump (or builds a database at the revision before it with
`database_at`, then inserts rows), runs `upgrade_holding_data`, and asserts
`lost_rows(before, after) == {}` plus whatever the migration itself promises.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Boolean, DateTime, LargeBinary, MetaData, Table, inspect, text

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


def downgrade(db: Path | str, target: str) -> None:
    """Downgrade the database (an SQLite file, or a URL) to `target`, foreign keys off on
    SQLite as schema.py upgrades."""
    engine = connect(db if isinstance(db, str) else f"sqlite:///{db}")
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
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
    inbound or outbox row with its bytes, wherever the schema keeps them."""
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
    return with_bodies(rows)


# A mail's bytes moved to a table of their own (inbound's in 0005, outbox's in 0014): they
# still count as the row's.
BODIES = {"inbound": ("inboundbody", "inbound_id"), "outbox": ("outboxbody", "outbox_id")}


def with_bodies(rows: Rows) -> Rows:
    """`rows` with each inbound and outbox row holding its bytes again as "raw"."""
    for table, (body_table, key) in BODIES.items():
        bodies = {body[key]: body["raw"] for body in rows.get(body_table, [])}
        for row in rows.get(table, []):
            if "raw" not in row and row["id"] in bodies:
                row["raw"] = bodies[row["id"]]
    return rows


def raw_by_id(db: Path, query: str) -> dict[int, bytes]:
    """A mail's bytes by id, as `query` (id, raw) reads them from the SQLite file `db`."""
    with closing(sqlite3.connect(db)) as conn:
        return {i: bytes(raw) for i, raw in conn.execute(query)}


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


def revision_at(url: str) -> list[str]:
    """The revision(s) alembic_version holds, on any backend."""
    engine = connect(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def rows_at(url: str) -> Rows:
    """Every row of every table (alembic's own aside) as the driver hands it over, on any
    backend, in key order; an inbound or outbox row with its bytes, wherever the schema
    keeps them."""
    engine = connect(url)
    try:
        with engine.connect() as conn:
            tables = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
            rows: Rows = {}
            for table in tables:
                # exec_driver_sql: raw driver values, untouched by any column type.
                result = conn.exec_driver_sql(f'SELECT * FROM "{table}" ORDER BY 1')
                rows[table] = [
                    {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items()}
                    for row in result.mappings()
                ]
    finally:
        engine.dispose()
    return with_bodies(rows)


def release_0_1_0_at(url: str, scratch: Path) -> None:
    """The database at `url` (new, empty) holding release 0.1.0's data: the dump itself on
    SQLite; elsewhere the baseline schema with the dump's rows copied in, typed as that
    backend types them (0.1.0 itself made the same tables from the same models)."""
    if url.startswith("sqlite:///"):
        load_dump(RELEASE_0_1_0, Path(url.removeprefix("sqlite:///")))
        return
    dumped = all_rows_of_dump(scratch / "release-0.1.0.db")
    upgrade(url, schema.BASELINE)
    engine = connect(url)
    try:
        with engine.begin() as conn:
            meta = MetaData()
            # Parents before children: the baseline's foreign keys are checked at once.
            for table in _parents_first(conn, dumped):
                columns = Table(table, meta, autoload_with=conn).columns
                rows = [
                    {k: _typed(columns[k].type, v) for k, v in r.items()} for r in dumped[table]
                ]
                if rows:
                    conn.execute(Table(table, meta).insert(), rows)
                if "id" in columns and rows:
                    conn.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"),
                        {"n": max(r["id"] for r in rows)},
                    )
    finally:
        engine.dispose()


def all_rows_of_dump(db: Path) -> Rows:
    load_dump(RELEASE_0_1_0, db)
    return all_rows(db)


def _parents_first(conn: Any, tables: Rows) -> list[str]:
    inspector = inspect(conn)
    parents = {
        t: {fk["referred_table"] for fk in inspector.get_foreign_keys(t)} - {t} for t in tables
    }
    order: list[str] = []
    while len(order) < len(tables):
        order += sorted(t for t in tables if t not in order and parents[t] <= set(order))
    return order


def _typed(kind: Any, value: Any) -> Any:
    """SQLite's stored value (text dates, 0/1 booleans) as the other backend's column wants it."""
    if value is None:
        return None
    if isinstance(kind, DateTime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(kind, Boolean):
        return bool(value)
    if isinstance(kind, LargeBinary):
        return bytes(value)
    return value


def revision_of(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
