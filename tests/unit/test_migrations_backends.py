"""Every migration on each backend (issue 10): release 0.1.0's data upgraded one revision at
a time, down to the baseline and up again, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from mailtickets import schema, store
from mailtickets.db import open_database, transaction
from tests.conftest import both_databases
from tests.migrations import downgrade, lost_rows, release_0_1_0_at, revision_at, rows_at, upgrade

pytestmark = both_databases


def revisions_after_baseline() -> list[str]:
    """Every revision newer than the baseline, oldest first."""
    found = [script.revision for script in schema.scripts().walk_revisions()]
    return list(reversed(found))[1:]


def test_release_0_1_0_data_survives_every_revision_one_at_a_time(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    before = rows_at(database_url)
    assert set(before) == schema.BASELINE_TABLES and all(before.values())  # data everywhere
    steps = revisions_after_baseline()
    assert steps and steps[-1] == schema.head()
    for revision in steps:
        upgrade(database_url, revision)
        assert revision_at(database_url) == [revision]
        after = rows_at(database_url)
        assert lost_rows(before, after) == {}, f"rows lost by {revision}"
        before = after
    engine = open_database(database_url)  # as the daemon starts on it: nothing left to do
    with transaction(engine) as session:
        assert len(store.list_tickets(session, None, None)) == len(before["ticket"])
    engine.dispose()


def test_down_to_the_baseline_and_up_again_keeps_the_release_data(
    database_url: str, tmp_path: Path
) -> None:
    release_0_1_0_at(database_url, tmp_path)
    released = rows_at(database_url)
    upgrade(database_url, "head")
    downgrade(database_url, schema.BASELINE)
    assert revision_at(database_url) == [schema.BASELINE]
    assert lost_rows(released, rows_at(database_url)) == {}
    upgrade(database_url, "head")
    assert revision_at(database_url) == [schema.head()]
    assert lost_rows(released, rows_at(database_url)) == {}
