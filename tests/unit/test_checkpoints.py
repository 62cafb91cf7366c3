"""SQLite's log checkpointed by a thread of its own while the daemon runs, on a real file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from mailtickets.checkpoints import SAFETY_NET_PAGES, Checkpoints, applies_to
from mailtickets.db import connect

# 2 MB: 500 pages, half of what makes SQLite checkpoint inside a commit by itself.
BLOB = 2_000_000


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "mailtickets-checkpoints"]


def _write(engine: Engine, size: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS big (data BLOB)"))
        conn.execute(text("INSERT INTO big VALUES (randomblob(:n))"), {"n": size})


def _grows_to(path: Path, size: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.stat().st_size >= size:
            return True
        time.sleep(0.05)
    return False


def test_the_thread_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    engine = connect(f"sqlite:///{path}")
    with Checkpoints(engine):
        _write(engine, BLOB)
        # SQLite alone would leave these 500 pages in the log: the thread copied them.
        assert _grows_to(path, BLOB)
    engine.dispose()


def test_without_it_the_same_commit_leaves_the_pages_in_the_log(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    engine = connect(f"sqlite:///{path}")
    _write(engine, BLOB)
    assert not _grows_to(path, BLOB, seconds=1)
    engine.dispose()


def test_the_engine_s_connections_checkpoint_only_past_the_safety_net(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 't.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    with Checkpoints(engine), engine.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == SAFETY_NET_PAGES
    # Stopped: the same pooled connection checkpoints by itself again.
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    engine.dispose()


def test_a_run_shorter_than_one_round_still_gets_its_log_copied(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    engine = connect(f"sqlite:///{path}")
    with Checkpoints(engine):
        _write(engine, BLOB)  # and out at once: a `run --once` with little to do
    assert path.stat().st_size >= BLOB
    engine.dispose()


def test_one_thread_however_deep_the_nesting_and_none_after(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 't.db'}")
    checkpoints = Checkpoints(engine)
    with checkpoints:
        with checkpoints:
            assert len(_threads()) == 1
        assert len(_threads()) == 1
    assert _threads() == []
    engine.dispose()


def test_nothing_runs_for_a_database_without_a_log_file() -> None:
    assert not applies_to(connect("postgresql+psycopg://mailtickets@127.0.0.1:9/none"))
    engine = connect("sqlite://")
    assert not applies_to(engine)
    with Checkpoints(engine):
        assert _threads() == []
    engine.dispose()
