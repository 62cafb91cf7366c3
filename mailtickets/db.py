"""Database engine and transactions: the only place a connection is opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from mailtickets import models  # noqa: F401  (registers the tables)
from mailtickets.errors import ConfigError, TemporaryError


def open_database(url: str) -> Engine:
    """Connect to `url` and create or upgrade the schema; TemporaryError if unreachable."""
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect_args = {"timeout": 30}
    try:
        engine = create_engine(url, connect_args=connect_args)
    except (ImportError, ArgumentError) as exc:
        raise ConfigError(
            f"[database] url: {exc} (is the driver, e.g. psycopg, installed?)"
        ) from None
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    _create_schema(engine)
    return engine


def _create_schema(engine: Engine) -> None:
    """Create missing tables while holding the database's write lock.

    Two processes starting on a new database would otherwise race between "does the table
    exist" and "create it", and the loser would fail with "table already exists".
    """
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7361736)")
            SQLModel.metadata.create_all(conn)
            conn.commit()
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        first_line = str(exc).splitlines()[0]
        raise TemporaryError(f"database {where}: {first_line}") from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the CLI read while the daemon writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
