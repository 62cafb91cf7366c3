"""Outbox rows written straight into a test's database, as the pipeline queues them, for
tests of delivery that need mail waiting without ingesting any."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailtickets import store
from mailtickets.db import transaction
from mailtickets.models import Outbox


def queue(engine: Engine, count: int, due: datetime | None = None) -> list[int]:
    """`count` acknowledgements due at `due` (now), without a ticket; their ids in order."""
    due = due or datetime.now(UTC)
    with transaction(engine) as session:
        ids = [f"<m{n}-{time.monotonic_ns()}@test.example>" for n in range(count)]
        mails = [
            {
                **Outbox(
                    kind="ack",
                    message_id=message_id,
                    envelope_from="soporte@hostingejemplo.es",
                    recipients=store.recipients_json(["cliente@example.com"]),
                    next_attempt_at=due,
                    created_at=due,
                ).model_dump(exclude={"id"}),
                "raw": b"Subject: x\r\n\r\nx\r\n",
            }
            for message_id in ids
        ]
        store.write_outbox(session, mails)
        found = session.exec(select(Outbox.id).where(col(Outbox.message_id).in_(ids)))
        return sorted(i for i in found if i is not None)
