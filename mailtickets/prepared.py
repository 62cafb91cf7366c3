"""Hot-path Core statements compiled once per dialect and run on the DB-API cursor of
the session's own connection, inside its transaction.

SQLAlchemy's execution (context, cache key, result object) costs about 30 µs a statement
where SQLite itself takes 5 µs (docs/performance.md), and a new ticket makes some thirty.
The statement is still SQLAlchemy's: compiled by it, its parameters and result values
converted by its type processors, so the rows are the ones `Connection.execute` returns.
What the fast path cannot do the same way (an expanding IN, Python-side column defaults,
a row of other keys) goes through `Connection.execute` as before, and so does every
statement while something watches them (`watched`: cursor-execute listeners, as tests
that count statements attach, or SQLAlchemy's echo), so each is seen."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.expression import (
    ReleaseSavepointClause,
    RollbackToSavepointClause,
    SavepointClause,
)

Processor = Callable[[Any], Any] | None
T = TypeVar("T")


class Rows:
    """What a prepared statement returned: its rows, as tuples, and for an UPDATE or
    DELETE how many rows it changed; the few Result methods the hot path uses."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def all(self) -> list[tuple[Any, ...]]:
        return self.rows

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0][0]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    literals: dict[str, Any]  # the values the statement itself holds ("internal", LIMIT 10)
    names: tuple[str, ...]  # every bind name, in order for a positional paramstyle
    positional: bool
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # the names that need converting
    results: tuple[Processor, ...]
    returns_rows: bool


class Prepared:
    """One statement, compiled on first use for each dialect and set of value keys."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled | None] = {}

    def run(self, connection: Connection, params: Sequence[dict[str, Any]] = ()) -> Any:
        """Execute with one row of values (or none), or executemany with several rows of
        the same keys; a `Rows`, or SQLAlchemy's Result when it had to run it."""
        keys = tuple(params[0]) if params else ()
        if watched(connection) or (len(params) > 1 and any(tuple(p) != keys for p in params)):
            return self._fallback(connection, params)
        dialect = connection.dialect
        found = self._compiled.get((dialect.name, keys), _MISSING)
        if found is _MISSING:
            found = self._compiled[(dialect.name, keys)] = _compile(self.statement, dialect, keys)
        if found is None:
            return self._fallback(connection, params)
        assert isinstance(found, _Compiled)
        # Values converted inside: a bind processor's error is wrapped as SQLAlchemy's.
        if len(params) > 1:
            return _on_cursor(connection, found.sql, params, lambda c: _many(found, c, params))
        one = params[0] if params else {}
        return _on_cursor(connection, found.sql, one, lambda c: _rows(found, c, one))

    def _fallback(self, connection: Connection, params: Sequence[dict[str, Any]]) -> Any:
        if not params:
            return connection.execute(self.statement)
        return connection.execute(self.statement, params[0] if len(params) == 1 else list(params))


_MISSING: Any = object()


def _compile(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled | None:
    """The statement as the dialect writes it for these value keys; None when only
    SQLAlchemy's own execution does it right."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys) or None)
    if (
        compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or getattr(compiled, "escaped_bind_names", None)
        or dialect.paramstyle not in ("qmark", "format", "pyformat", "named")
    ):
        return None
    # What SQLAlchemy's construct_params does for every execution, done once: the values
    # written in the statement, and a check that every bound name is given a value.
    defaults = compiled.construct_params(_check=False)
    required = {name for name, bind in compiled.binds.items() if bind.required}
    if not required <= set(keys):
        return None  # SQLAlchemy says which value is missing
    processors = compiled._bind_processors  # SQLAlchemy's own conversions, by bind name
    results = tuple(
        column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
    )
    return _Compiled(
        sql=compiled.string,
        literals={k: v for k, v in defaults.items() if k not in required},
        names=tuple(compiled.positiontup) if compiled.positional else tuple(defaults),
        positional=bool(compiled.positional),
        binds=tuple(processors.items()),
        results=results,
        returns_rows=bool(compiled._result_columns) or bool(compiled.effective_returning),
    )


def _values(found: _Compiled, params: dict[str, Any]) -> Any:
    values = {**found.literals, **params}
    for name, process in found.binds:
        values[name] = process(values[name])
    if found.positional:
        return tuple([values[name] for name in found.names])
    return {name: values[name] for name in found.names}


def _many(found: _Compiled, cursor: Any, params: Sequence[dict[str, Any]]) -> Rows:
    cursor.executemany(found.sql, [_values(found, p) for p in params])
    return Rows([], cursor.rowcount)


def _rows(found: _Compiled, cursor: Any, params: dict[str, Any]) -> Rows:
    cursor.execute(found.sql, _values(found, params))
    rows = cursor.fetchall() if found.returns_rows else []
    if rows and any(found.results):
        rows = [_converted(found.results, row) for row in rows]
    return Rows([tuple(r) for r in rows], cursor.rowcount)


def _on_cursor(connection: Connection, sql: str, values: Any, work: Callable[[Any], T]) -> T:
    """`work` on a cursor of the connection's DB-API connection, inside its transaction."""
    # Outside the try: an invalidated connection raises SQLAlchemy's own error here.
    dbapi: Any = connection.connection.dbapi_connection
    cursor: Any = None
    try:
        cursor = dbapi.cursor()
        done = work(cursor)
        cursor.close()
        return done
    except BaseException as exc:
        # As SQLAlchemy's own execution does: the DB-API error wrapped in its exception
        # (IntegrityError, OperationalError...), a dropped connection invalidated, the
        # cursor closed by it (a close here could raise the driver's error over it).
        connection._handle_dbapi_exception(exc, sql, values, cursor, None)
        raise  # not reached: SQLAlchemy raised


def _converted(results: tuple[Processor, ...], row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(v if p is None else p(v) for p, v in zip(results, row, strict=False))


def cheap_savepoints(dialect: Dialect) -> None:
    """Run this dialect's SAVEPOINT, RELEASE and ROLLBACK TO on the DB-API cursor, as the
    statements above are: SQLAlchemy compiled and executed each as a statement of its own,
    about 0.1 ms a time, and the pipeline takes a savepoint per mail. The ORM's nested
    transactions are unchanged: this is only how the three statements reach the database."""
    for method, clause in (
        ("do_savepoint", SavepointClause),
        ("do_release_savepoint", ReleaseSavepointClause),
        ("do_rollback_to_savepoint", RollbackToSavepointClause),
    ):
        fallback = getattr(dialect, method)
        setattr(dialect, method, _savepoint_statement(dialect, clause, fallback))


def _savepoint_statement(
    dialect: Dialect, clause: Any, fallback: Callable[[Connection, str], None]
) -> Callable[[Connection, str], None]:
    # By savepoint name: SQLAlchemy numbers them per connection (sa_savepoint_1, 2...), as
    # many as a transaction takes; bounded should a connection live for ever.
    written: dict[str, str] = {}

    def run(connection: Connection, name: str) -> None:
        if watched(connection):
            return fallback(connection, name)  # counted and logged like any statement
        sql = written.get(name)
        if sql is None:
            if len(written) >= MAX_SAVEPOINT_NAMES:
                written.clear()
            sql = written[name] = str(clause(name).compile(dialect=dialect))
        _on_cursor(connection, sql, (), lambda cursor: cursor.execute(sql))
        return None

    return run


MAX_SAVEPOINT_NAMES = 4096


def watched(connection: Connection) -> bool:
    """Whether something watches this connection's statements (a listener that counts or
    traces them, SQLAlchemy's echo): then they go through SQLAlchemy's execution."""
    dispatch = connection.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute or connection._echo)
