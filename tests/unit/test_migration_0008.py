"""Migration 0008 (issue 11): `inbound.spam_released_at`; every row is kept, none of them
counts as released, and a mail held after the upgrade can be released (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from mailtickets.db import connect, open_database, transaction
from mailtickets.spam_cli import held_mail, release
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def test_0008_keeps_every_row_and_releases_only_what_is_held(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    upgrade(database_url, "0007")
    before = rows_at(database_url)
    assert before["inbound"], "the release's data holds inbound mail"
    upgrade(database_url, "0008")
    after = rows_at(database_url)
    assert revision_at(database_url) == ["0008"]
    assert lost_rows(before, after) == {}
    assert {row["spam_released_at"] for row in after["inbound"]} == {None}

    engine = connect(database_url)
    with engine.begin() as conn:  # a mail the new code held as spam
        held = conn.execute(text("SELECT min(id) FROM inbound")).scalar_one()
        conn.execute(
            text("UPDATE inbound SET state = 'spam', outcome = 'spam: X-Spam: Yes' WHERE id = :id"),
            {"id": held},
        )
    engine.dispose()
    engine = open_database(database_url)
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    with transaction(engine) as session:
        assert [(h.id, h.verdict) for h in held_mail(session)] == [(held, "X-Spam: Yes")]
        assert release(session, held, now)
    with transaction(engine) as session:
        assert held_mail(session) == []
    engine.dispose()
    released = {r["id"]: r for r in rows_at(database_url)["inbound"]}[held]
    assert released["state"] == "pending" and released["spam_released_at"] is not None

    downgrade(database_url, "0007")
    assert revision_at(database_url) == ["0007"]
    assert "spam_released_at" not in rows_at(database_url)["inbound"][0]
