"""Prepared statements on the DB-API cursor give what SQLAlchemy's execution gives (real
SQLite and PostgreSQL), and step aside where they could not."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from mailtickets.db import transaction
from mailtickets.models import Contact, Customer, Event, Ticket
from mailtickets.prepared import Prepared, Rows
from tests.conftest import both_databases

NOW = datetime(2026, 12, 1, 10, 15, 30, 123456, tzinfo=UTC)
_CUSTOMER = Customer.__table__  # type: ignore[attr-defined]
_CONTACT = Contact.__table__  # type: ignore[attr-defined]
_TICKET = Ticket.__table__  # type: ignore[attr-defined]
_EVENT = Event.__table__  # type: ignore[attr-defined]


def _ticket(engine: Engine) -> int:
    with transaction(engine) as session:
        customer = Customer(name="Ana", created_at=NOW)
        session.add(customer)
        session.flush()
        session.add(Contact(customer_id=customer.id or 0, email="ana@ej.es", notify=True))
        ticket = Ticket(
            code="T-AAAA1111",
            subject="Mi web",
            status="open",
            priority="normal",
            department="Soporte",
            requester="ana@ej.es",
            customer_id=customer.id or 0,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(ticket)
        session.flush()
        return ticket.id or 0


@both_databases
def test_rows_and_their_types_are_sqlalchemys(engine: Engine) -> None:
    ticket_id = _ticket(engine)
    events = [
        {"ticket_id": ticket_id, "at": NOW + timedelta(minutes=i), "kind": "k", "actor": "a"}
        | {"detail": f"d{i}"}
        for i in range(3)
    ]
    with transaction(engine) as session:
        Prepared(insert(_EVENT)).run(session.connection(), events)  # an executemany
    query = (
        select(_EVENT.c.at, _EVENT.c.detail, _TICKET.c.status, _CONTACT.c.notify)
        .join(_TICKET, _TICKET.c.id == _EVENT.c.ticket_id)
        .join(_CONTACT, _CONTACT.c.customer_id == _TICKET.c.customer_id)
        .where(_EVENT.c.ticket_id == bindparam("t"), _TICKET.c.status != "closed")
        .order_by(_EVENT.c.id)
    )
    with engine.connect() as connection:
        prepared = Prepared(query).run(connection, [{"t": ticket_id}])
        plain = connection.execute(query, {"t": ticket_id})
        assert isinstance(prepared, Rows)
        assert prepared.all() == [tuple(r) for r in plain]
    # Read back as SQLAlchemy reads them: aware datetimes, booleans.
    assert prepared.first() == (NOW, "d0", "open", True)
    assert prepared.scalars() == [NOW + timedelta(minutes=i) for i in range(3)]


@both_databases
def test_returning_and_rowcount_are_sqlalchemys(engine: Engine) -> None:
    ticket_id = _ticket(engine)
    returning = insert(_CUSTOMER).returning(_CUSTOMER.c.id, _CUSTOMER.c.created_at)
    with transaction(engine) as session:
        values = {"name": "Luis", "created_at": NOW, "plan": "", "domains": "[]"}
        new = Prepared(returning).run(session.connection(), [values]).all()
    assert len(new) == 1 and new[0][1] == NOW and new[0][0] > 0
    change = update(_TICKET).where(_TICKET.c.id == bindparam("t")).values(status=bindparam("s"))
    with transaction(engine) as session:
        changed = Prepared(change).run(session.connection(), [{"t": ticket_id, "s": "waiting"}])
        missed = Prepared(change).run(session.connection(), [{"t": ticket_id + 99, "s": "x"}])
    assert (changed.rowcount, missed.rowcount) == (1, 0)
    with engine.connect() as connection:
        status = select(_TICKET.c.status).where(_TICKET.c.id == bindparam("t"))
        assert Prepared(status).run(connection, [{"t": ticket_id}]).scalar_one() == "waiting"


@both_databases
def test_what_it_cannot_run_the_same_way_sqlalchemy_runs(engine: Engine) -> None:
    _ticket(engine)
    expanding = select(_CONTACT.c.email).where(
        _CONTACT.c.email.in_(bindparam("emails", expanding=True))
    )
    with engine.connect() as connection:
        found = Prepared(expanding).run(connection, [{"emails": ["ana@ej.es", "x@y.es"]}])
        assert not isinstance(found, Rows)  # SQLAlchemy's Result: it expands the list
        assert list(found.scalars()) == ["ana@ej.es"]
    # A statement counted by a listener (a test that counts statements) is SQLAlchemy's.
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            names = Prepared(select(_CUSTOMER.c.name)).run(connection)
            assert list(names.scalars()) == ["Ana"]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 1 and seen[0].startswith("SELECT customer.name")


@both_databases
def test_a_database_error_is_sqlalchemys_exception(engine: Engine) -> None:
    # Code above catches SQLAlchemy's exceptions (a duplicate inbound row is IntegrityError
    # in ingest.py): the prepared path raises those, not the driver's own.
    _ticket(engine)
    duplicate = insert(_CONTACT)
    values = {"customer_id": 1, "email": "ana@ej.es", "name": "", "notify": True}
    with engine.connect() as connection, pytest.raises(IntegrityError):
        Prepared(duplicate).run(connection, [values])


@both_databases
def test_savepoints_on_the_cursor_keep_and_undo_what_the_orm_expects(engine: Engine) -> None:
    ticket_id = _ticket(engine)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        seen.append(sql)

    executed: list[str] = []  # what went through SQLAlchemy's execution

    def executing(conn: Any, clause: Any, *rest: Any) -> None:
        executed.append(type(clause).__name__)

    event.listen(engine, "before_execute", executing)
    with transaction(engine) as session:
        with session.begin_nested():  # kept
            session.add(Contact(customer_id=1, email="kept@ej.es", notify=True))
        with pytest.raises(ZeroDivisionError), session.begin_nested():  # undone alone
            session.add(Contact(customer_id=1, email="undone@ej.es", notify=True))
            session.flush()
            raise ZeroDivisionError
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        with session.begin_nested():  # a savepoint after a rolled-back one still works
            ticket.subject = "Cambiado"
    event.remove(engine, "before_execute", executing)
    assert executed and not [name for name in executed if "Savepoint" in name]
    # The fast path sent no statement through SQLAlchemy's execution, so none was seen;
    # with a listener attached the same three go through it and are counted.
    event.listen(engine, "before_cursor_execute", record)
    try:
        with transaction(engine) as session:
            emails = sorted(session.execute(select(_CONTACT.c.email)).scalars().all())
            with pytest.raises(ZeroDivisionError), session.begin_nested():
                session.add(Contact(customer_id=1, email="otro@ej.es", notify=True))
                session.flush()
                raise ZeroDivisionError
            with session.begin_nested():
                session.add(Contact(customer_id=1, email="otro@ej.es", notify=True))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert emails == ["ana@ej.es", "kept@ej.es"]
    said = [s.split()[0] for s in seen if "SAVEPOINT" in s]
    assert said == ["SAVEPOINT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
    with transaction(engine) as session:
        assert session.get(Ticket, ticket_id).subject == "Cambiado"  # type: ignore[union-attr]


@both_databases
def test_with_sqlalchemy_s_echo_on_every_statement_is_logged(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _ticket(engine)
    engine.echo = True  # what a site sets to trace the SQL: nothing may bypass the log
    try:
        with (
            caplog.at_level(logging.INFO, logger="sqlalchemy.engine"),
            transaction(engine) as session,
        ):
            with session.begin_nested():
                session.add(Contact(customer_id=1, email="eco@ej.es", notify=True))
            Prepared(select(_CUSTOMER.c.name)).run(session.connection())
    finally:
        engine.echo = False
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "SAVEPOINT sa_savepoint_1" in logged and "RELEASE SAVEPOINT" in logged
    assert "SELECT customer.name" in logged
