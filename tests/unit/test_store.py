"""Queries whose exactness is a promise, over a real database (no mail servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailtickets import store
from mailtickets.db import open_database, transaction
from mailtickets.models import AutoMail, Inbound, Ticket
from tests.conftest import both_databases

pytestmark = both_databases

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_the_hourly_auto_reply_count_matches_the_address_exactly(database_url: str) -> None:
    engine = open_database(database_url)
    with transaction(engine) as session:
        for n, to in enumerate(["ana.lopez@cliente.es", "ana.lopez@cliente.es", "x%y@z.es"]):
            values = {
                "kind": "ack",
                "message_id": f"<m{n}@x>",
                "envelope_from": "soporte@x.es",
                "recipients": store.recipients_json([to]),
                "raw": b"",
                "automatic": True,
                "next_attempt_at": NOW,
                "created_at": NOW,
            }
            store.add_outbox(session, values, [to])
        # An hour and more ago: no longer counted, and dropped when the address is counted.
        old = {**values, "message_id": "<old@x>", "created_at": NOW - timedelta(hours=2)}
        store.add_outbox(session, old, ["ana.lopez@cliente.es"])
    since = NOW - timedelta(hours=1)
    with transaction(engine) as session:
        assert store.automatic_mail_count(session, "ana.lopez@cliente.es", since) == 2
        # "_" and "%" are letters of an address, not LIKE wildcards.
        assert store.automatic_mail_count(session, "ana_lopez@cliente.es", since) == 0
        assert store.automatic_mail_count(session, "x_y@z.es", since) == 0
        assert store.automatic_mail_count(session, "x%y@z.es", since) == 1
        left = session.exec(select(AutoMail.email).where(AutoMail.at < since)).all()
        assert left == []
    engine.dispose()


def _inbound(engine: Engine, count: int) -> list[int]:
    with transaction(engine) as session:
        for n in range(count):
            row = Inbound(mailbox="m", uidvalidity=1, uid=n + 1, dedup_key=f"k{n}", fetched_at=NOW)
            store.add_inbound(session, row, b"Subject: x\r\n\r\nhola\r\n")
        return [i for (i,) in session.execute(text("SELECT id FROM inbound ORDER BY id"))]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_workers_skip_what_another_workers_open_transaction_holds(database_url: str) -> None:
    """On PostgreSQL a claim passes over rows locked by another worker's batch instead of
    waiting for its commit (SKIP LOCKED); what that batch gives up is claimable after."""
    engine = open_database(database_url)
    ids = _inbound(engine, 4)
    with Session(engine) as first, Session(engine) as second:
        assert store.claim_inbound_rows(first, ids[:2]) == ids[:2]  # transaction left open
        # A claim that waited for the first worker would fail here after 2 s instead.
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert store.count_first_attempts(second, ids) == ids[2:]
        assert store.claim_inbound_rows(second, ids) == ids[2:]
        assert store.claim_inbound(second, ids[0]) is None
        second.commit()
        first.rollback()  # the first worker died: its rows are pending again
    with Session(engine) as third:
        assert store.claim_inbound_rows(third, ids) == ids[:2]
        third.commit()
    engine.dispose()


def _two_tickets(engine: Engine) -> tuple[int, int]:
    with transaction(engine) as session:
        customer = store.add_customer_with_contact(session, "ana@cliente.es", "Ana", NOW).id
        ids: list[int] = []
        for code, merged_into in (("SOP-AAAA1", None), ("SOP-BBBB2", 0)):
            ticket = Ticket(
                code=code,
                subject=f"Subject of {code}",
                status="merged" if merged_into is not None else "open",
                department="soporte",
                requester="ana@cliente.es",
                customer_id=customer,
                linked_to_id=ids[0] if merged_into is not None else None,
                created_at=NOW,
                updated_at=NOW,
                last_customer_at=NOW - timedelta(minutes=5),
                remind_at=NOW + timedelta(hours=48),
                mailbox="ventas",
            )
            store.add_ticket(session, ticket)
            assert ticket.id is not None
            ids.append(ticket.id)
        store.add_message(
            session,
            {
                "ticket_id": ids[0],
                "direction": "in",
                "message_id": "<first@cliente.es>",
                "sender": "ana@cliente.es",
                "recipients": "[]",
                "subject": "hola",
                "date": NOW,
                "text": "hola",
                "html": "",
                "inbound_id": None,
            },
            [],
        )
    return ids[0], ids[1]


def test_a_ticket_found_by_code_id_or_reference_is_what_the_orm_loads(database_url: str) -> None:
    engine = open_database(database_url)
    first, merged = _two_tickets(engine)
    with transaction(engine) as session:
        expected = {c: getattr(session.get(Ticket, first), c) for c in Ticket.model_fields}
    with transaction(engine) as session:
        by_code = store.ticket_by_code(session, "sop-aaaa1")
        assert by_code is not None
        assert {c: getattr(by_code, c) for c in Ticket.model_fields} == expected
        assert store.ticket_by_id(session, first) is by_code  # the session's own object
        assert store.ticket_by_message_ids(session, ["<nada@x>", "<first@cliente.es>"]) is by_code
        many = [f"<n{i}@x>" for i in range(12)] + ["<first@cliente.es>"]
        assert store.ticket_by_message_ids(session, many) is by_code
        assert store.ticket_by_message_ids(session, ["<nada@x>"]) is None
        assert store.ticket_by_code(session, "SOP-ZZZZ9") is None
        # Loaded, not new: a change is written as an UPDATE of that row.
        by_code.subject = "Changed"
    with transaction(engine) as session:
        again = store.ticket_by_id(session, first)
        assert again is not None and again.subject == "Changed"
        chained = store.follow_merges(session, store.ticket_by_id(session, merged))
        assert chained is again
        assert store.ticket_by_id(session, 10_000) is None
    engine.dispose()
