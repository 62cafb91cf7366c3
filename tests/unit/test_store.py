"""Queries whose exactness is a promise, over a real SQLite file (no mail servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from mailtickets import store
from mailtickets.db import open_database, transaction
from mailtickets.models import AutoMail
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
