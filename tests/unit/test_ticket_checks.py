"""The automatic checks as database work (issue 12 point 1): a finished check is never run
again, one whose worker died is run by another, one a live worker holds is left to it, and
a round is reported once whoever finishes it (SQLite and PostgreSQL). The rows name a check
that is not installed, so nothing here touches the network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from mailtickets import ticket_checks
from mailtickets.db import transaction
from mailtickets.models import Customer, Message, Ticket, TicketCheck, Worker
from mailtickets.render import Renderer
from mailtickets.settings import Settings
from mailtickets.workers import STALE_AFTER, Heartbeat
from tests.conftest import both_databases

pytestmark = both_databases

NOW = datetime.now(UTC)
QUIET = timedelta(hours=1)
TARGETS = json.dumps({"domains": [{"name": "sinmx.test", "source": "mail"}], "urls": []})


@pytest.fixture
def ticket_id(engine: Engine) -> Iterator[int]:
    with transaction(engine) as session:
        customer = Customer(name="Tienda de Rosa", created_at=NOW)
        session.add(customer)
        session.flush()
        assert customer.id is not None
        ticket = Ticket(
            code="SOP-ABC234",
            subject="No nos llega el correo",
            status="new",
            department="Hosting",
            requester="rosa@example.com",
            customer_id=customer.id,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(ticket)
        session.flush()
        assert ticket.id is not None
        made = ticket.id
    yield made


def add_checks(engine: Engine, ticket: int, names: list[str], held_by: str | None = None) -> None:
    with transaction(engine) as session:
        for name in names:
            session.add(
                TicketCheck(
                    ticket_id=ticket,
                    name=name,
                    targets=TARGETS,
                    queued_at=NOW,
                    deadline=NOW + timedelta(seconds=30),
                    claimed_by=held_by,
                    claimed_at=NOW if held_by else None,
                )
            )


def rows(engine: Engine) -> dict[str, TicketCheck]:
    with transaction(engine) as session:
        found = {r.name: r for r in session.exec(select(TicketCheck))}
        for row in found.values():
            session.expunge(row)
        return found


def dead_worker(engine: Engine) -> str:
    """A worker row whose heartbeat stopped long ago (its process was killed)."""
    stale = datetime.now(UTC) - STALE_AFTER * 3
    with transaction(engine) as session:
        session.add(
            Worker(
                id="mx9:999:dead",
                host="mx9",
                pid=999,
                process="boot:ns:999:1",
                started_at=stale,
                heartbeat_at=stale,
            )
        )
    return "mx9:999:dead"


def run(settings: Settings, engine: Engine, worker: Heartbeat) -> ticket_checks.CheckRun:
    site = replace(settings, checks=replace(settings.checks, enabled=True))
    return ticket_checks.run_due(site, engine, Renderer("es"), worker, lambda: NOW)


def test_a_dead_workers_check_is_run_again_a_live_ones_left_and_a_done_one_never(
    settings: Settings, engine: Engine, ticket_id: int
) -> None:
    gone = dead_worker(engine)
    add_checks(engine, ticket_id, ["gone-a"], held_by=gone)
    with Heartbeat(engine, every=QUIET) as other, Heartbeat(engine, every=QUIET) as mine:
        add_checks(engine, ticket_id, ["gone-b"], held_by=other.id)
        first = run(settings, engine, mine)
        found = rows(engine)
        assert first.ran == 1 and found["gone-a"].state == "done"  # taken over from the dead
        assert found["gone-b"].state == "pending" and found["gone-b"].claimed_by == other.id
        assert first.reported == 0  # its round is not complete: gone-b is still out
        done_at = found["gone-a"].finished_at
        findings = json.loads(found["gone-a"].findings)
        assert [f["code"] for f in findings] == ["check_gone"]
        # The live worker finishes its own; nobody runs gone-a again.
        second = run(settings, engine, other)
        after = rows(engine)
        assert second.ran == 1 and after["gone-a"].finished_at == done_at
        assert second.reported == 1
    with transaction(engine) as session:
        notes = list(session.exec(select(Message).where(Message.direction == "internal")))
    assert len(notes) == 1 and "gone-a" in notes[0].text and "gone-b" in notes[0].text


def test_a_round_is_reported_once_by_whichever_worker_sees_it_complete(
    settings: Settings, engine: Engine, ticket_id: int
) -> None:
    add_checks(engine, ticket_id, ["gone-a", "gone-b"])
    with Heartbeat(engine, every=QUIET) as one, Heartbeat(engine, every=QUIET) as other:
        assert run(settings, engine, one).reported == 1
        assert run(settings, engine, other) == ticket_checks.CheckRun(0, 0)
    with engine.connect() as conn:
        internal = conn.execute(
            text("SELECT count(*) FROM message WHERE direction = 'internal'")
        ).scalar_one()
        unreported = conn.execute(
            text("SELECT count(*) FROM ticket_check WHERE reported_at IS NULL")
        ).scalar_one()
    assert (internal, unreported) == (1, 0)
