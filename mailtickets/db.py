"""Database engine and transactions: the only place a connection is opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, create_engine

from mailtickets import schema
from mailtickets.errors import ConfigError
from mailtickets.prepared import cheap_savepoints

# PostgreSQL over a network: give up on an unreachable server in 10 s instead of the OS's
# minutes; notice a peer that vanished (failover, cable) within about a minute through TCP
# keepalives; a lock wait fails after 30 s like SQLite's busy timeout rather than hanging a
# worker; a session left idle inside a transaction (a stuck process) frees its row locks
# after 5 minutes, so the other workers go on.
POSTGRES_CONNECT: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "options": "-c lock_timeout=30s -c idle_in_transaction_session_timeout=5min",
}


def open_database(url: str) -> Engine:
    """Connect and bring the schema to this release's head; TemporaryError if unreachable."""
    engine = connect(url)
    schema.ensure_head(engine)
    return engine


def connect(url: str) -> Engine:
    """An engine for `url`, schema untouched (`db current` and `db upgrade` start here)."""
    connect_args: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect_args = {"timeout": 30}
    elif url.startswith("postgresql"):
        connect_args = POSTGRES_CONNECT
        # A database restarted or failed over leaves dead connections in the pool: test
        # each before use instead of failing the first statement of every worker.
        options = {"pool_pre_ping": True}
    try:
        engine = create_engine(url, connect_args=connect_args, **options)
    except (ImportError, ArgumentError) as exc:
        raise ConfigError(
            f"[database] url: {exc} (is the driver, e.g. psycopg, installed?)"
        ) from None
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    cheap_savepoints(engine.dialect)  # one per mail in a batch (pipeline.process_batch)
    return engine


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


def changed(result: object) -> int:
    """How many rows an UPDATE or DELETE changed (Result types do not all declare it)."""
    return int(getattr(result, "rowcount", 0))
