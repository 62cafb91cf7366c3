"""Schema revisions (alembic): bring a database to this release's head, or refuse a newer one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from mailtickets.errors import ConfigError, PermanentError, TemporaryError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# Release 0.1.0 made these tables with create_all and kept no revision: that schema is 0001.
BASELINE = "0001"
BASELINE_TABLES = frozenset(
    {
        "customer",
        "contact",
        "ticket",
        "participant",
        "message",
        "attachment",
        "event",
        "inbound",
        "outbox",
        "checkpoint",
        "suppression",
    }
)
ADVISORY_LOCK = 7361736  # PostgreSQL: held while one process checks or changes the schema


@dataclass(frozen=True)
class Revisions:
    """What an upgrade found and left; `before` is None for a database with no revision."""

    before: str | None
    after: str
    stamped: bool  # tables from 0.1.0's create_all, recognised as BASELINE

    def line(self) -> str:
        if self.stamped:
            why = f"tables of mailtickets 0.1.0, stamped {BASELINE}"
        elif self.before is None:
            why = "new database"
        else:
            why = "already at this revision" if self.before == self.after else "upgraded"
        return f"schema {self.before or 'none'} -> {self.after} ({why})"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's settings built in code: the migrations ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """This release's schema revision."""
    revision = scripts().get_current_head()
    assert revision is not None, f"no migrations in {MIGRATIONS}"
    return revision


def ensure_head(engine: Engine) -> None:
    """Upgrade unless already at head; at head this costs one read of alembic_version."""
    try:
        with engine.connect() as conn:
            found = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:
        found = []  # no revision table yet (or no database): upgrade() finds out which
    if found != [head()]:
        upgrade(engine)


def upgrade(engine: Engine, target: str = "head") -> Revisions:
    """Stamp a 0.1.0 database, then upgrade to `target`, all under the schema lock."""
    with _reporting(engine), _locked(engine) as conn:
        before = _current(engine, conn)
        stamped = before is None and _is_release_0_1_0(engine, conn)
        if stamped:
            command.stamp(alembic_config(conn), BASELINE)
        command.upgrade(alembic_config(conn), target)
        _check_foreign_keys(engine, conn)
        after = _current(engine, conn)
        conn.commit()
    assert after is not None
    done = Revisions(before, after, stamped)
    if after != before:
        log.info("database %s: %s", where(engine), done.line())
    return done


def current(engine: Engine) -> str | None:
    """The database's revision as it is (None: new, or made by 0.1.0); nothing is changed."""
    with _reporting(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_release_0_1_0_tables(engine: Engine) -> bool:
    with _reporting(engine), engine.connect() as conn:
        return set(inspect(conn).get_table_names()) >= BASELINE_TABLES


def where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _current(engine: Engine, conn: Connection) -> str | None:
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is not None and revision not in known_revisions():
        raise ConfigError(
            f"database {where(engine)}: schema revision {revision} is newer than this "
            f"mailtickets (head {head()}): upgrade mailtickets"
        )
    return revision


@cache
def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in scripts().walk_revisions())


def _is_release_0_1_0(engine: Engine, conn: Connection) -> bool:
    """True for 0.1.0's tables, False for an empty database; refuse anything in between."""
    ours = BASELINE_TABLES & set(inspect(conn).get_table_names())
    if ours and ours != BASELINE_TABLES:
        missing = ", ".join(sorted(BASELINE_TABLES - ours))
        raise ConfigError(
            f"database {where(engine)}: has some mailtickets tables but not {missing} and no "
            "schema revision: is [database] url mailtickets' own database?"
        )
    return bool(ours)


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection holding the database's write lock, so two starting processes never race."""
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
            yield conn
            return
        # Batch migrations copy and drop tables, which foreign keys would forbid; SQLite's
        # own recipe is: keys off, change, check, keys on.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
        finally:
            conn.rollback()  # after a failure: the pragma below does nothing inside a transaction
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _check_foreign_keys(engine: Engine, conn: Connection) -> None:
    if engine.dialect.name != "sqlite":
        return
    broken = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
    if broken:
        raise PermanentError(
            f"database {where(engine)}: the migration broke foreign keys {broken[:3]}; "
            "nothing was changed"
        )


@contextmanager
def _reporting(engine: Engine) -> Iterator[None]:
    """A database that cannot be reached or read is one line naming it (exit 1)."""
    try:
        yield
    except SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0]
        raise TemporaryError(f"database {where(engine)}: {first_line}") from exc
