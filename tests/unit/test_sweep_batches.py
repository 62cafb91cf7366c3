"""The sweep that composes reminders in batches: one transaction per batch, its tickets
claimed, read and written together. A ticket whose notice cannot be built sends its batch
one ticket at a time, a savepoint each, so it costs only itself and is due again; a batch
that never commits leaves every one of its claims undone. Real databases, no servers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailtickets import store
from mailtickets.db import open_database, transaction
from mailtickets.models import Event, Outbox, Ticket
from mailtickets.render import Rendered, Renderer
from mailtickets.settings import Settings
from mailtickets.timers import PER_TRANSACTION, Sweeper
from tests.conftest import both_databases

pytestmark = both_databases

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DUE = PER_TRANSACTION + 5  # two batches


class Stop(BaseException):
    """What a signal or a dying process looks like from inside the sweep."""


class FailingFor(Renderer):
    """The real templates, except for the tickets named: a broken site template for them."""

    def __init__(self, codes: set[str], error: type[BaseException] = RuntimeError) -> None:
        super().__init__("es")
        self.codes, self.error = codes, error

    def render(self, kind: str, context: dict[str, Any]) -> Rendered:
        if context["code"] in self.codes:
            raise self.error(f"template broken for {context['code']}")
        return super().render(kind, context)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = open_database(settings.database_url)
    with transaction(engine) as session:
        for n in range(DUE):
            email = f"cliente{n}@empresa{n}.es"
            customer_id = store.add_customer_with_contact(session, email, f"Cliente {n}", NOW).id
            session.add(
                Ticket(
                    code=f"SOP-{n:06X}",
                    subject=f"Consulta {n}",
                    status="waiting",
                    department="Hosting",
                    requester=email,
                    customer_id=customer_id,
                    created_at=NOW - timedelta(days=5),
                    updated_at=NOW - timedelta(days=3),
                    remind_at=NOW - timedelta(minutes=DUE - n),  # oldest first
                )
            )
    yield engine
    engine.dispose()


def state(engine: Engine) -> tuple[set[str], set[str], set[int]]:
    """Codes still due for a reminder, codes with a reminder queued, tickets with events."""
    with transaction(engine) as session:
        tickets = {t.id: t for t in session.exec(select(Ticket))}
        due = {t.code for t in tickets.values() if t.remind_at is not None}
        rows = session.exec(select(Outbox).where(Outbox.kind == "reminder")).all()
        queued = {tickets[r.ticket_id].code for r in rows if r.ticket_id is not None}
        for row in rows:  # the ticket knows its reminder, whose delivery starts the close clock
            assert row.ticket_id is not None and tickets[row.ticket_id].reminder_outbox_id == row.id
        with_events = {e.ticket_id for e in session.exec(select(Event))}
    return due, queued, with_events


def test_every_due_ticket_is_reminded_once_across_batches(
    settings: Settings, engine: Engine
) -> None:
    fired = Sweeper(settings, engine, Renderer("es")).sweep(NOW)
    assert sorted(f.code for f in fired) == sorted(f"SOP-{n:06X}" for n in range(DUE))
    assert Sweeper(settings, engine, Renderer("es")).sweep(NOW) == []
    due, queued, _ = state(engine)
    assert due == set() and len(queued) == DUE


def test_a_broken_notice_costs_only_its_ticket_which_is_due_again(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # The first of a batch, one in the middle, the last of the first batch.
    broken = {"SOP-000000", "SOP-000032", f"SOP-{PER_TRANSACTION - 1:06X}"}
    with caplog.at_level(logging.ERROR, logger="mailtickets.timers"):
        fired = Sweeper(settings, engine, FailingFor(broken)).sweep(NOW)
    assert len(fired) == DUE - len(broken) and not broken & {f.code for f in fired}
    assert all(code in caplog.text for code in broken)
    due, queued, with_events = state(engine)
    assert due == broken  # claims rolled back with their savepoints
    assert queued.isdisjoint(broken) and len(queued) == DUE - len(broken)
    with transaction(engine) as session:
        broken_ids = session.exec(select(Ticket.id).where(col(Ticket.code).in_(broken))).all()
    assert with_events.isdisjoint(broken_ids)  # no event, no mail, nothing half done
    again = Sweeper(settings, engine, Renderer("es")).sweep(NOW)
    assert {f.code for f in again} == broken
    assert state(engine)[:2] == (set(), {f"SOP-{n:06X}" for n in range(DUE)})


def test_a_sweep_stopped_mid_batch_leaves_every_claim_of_the_batch_undone(
    settings: Settings, engine: Engine
) -> None:
    # pysqlite opens no transaction for a SAVEPOINT, whose RELEASE would then commit each
    # ticket on its own: the batch's earlier tickets must not survive its interruption.
    stopped_at = "SOP-000005"
    with pytest.raises(Stop):
        Sweeper(settings, engine, FailingFor({stopped_at}, Stop)).sweep(NOW)
    due, queued, with_events = state(engine)
    assert len(due) == DUE and queued == set() and with_events == set()


def test_a_batch_costs_a_few_statements_not_a_dozen_per_ticket(
    settings: Settings, engine: Engine
) -> None:
    """What made sweeps slow was the statements per ticket (issue 9): a batch now reads what
    its notices need in a few queries and writes each table with one executemany."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    fired = Sweeper(settings, engine, Renderer("es")).sweep(NOW)
    event.remove(engine, "before_cursor_execute", record)
    assert len(fired) == DUE
    # Two batches of reminders, each about fifteen statements, and the other timers' look-up.
    assert len(statements) < DUE / 2, len(statements)
    assert state(engine)[:2] == (set(), {f"SOP-{n:06X}" for n in range(DUE)})
