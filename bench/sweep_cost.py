"""Timer sweep cost: does it follow the number of due tickets, or the number of tickets?

Builds SQLite databases with the real schema holding N tickets of which D are due for a
reminder, then times one real sweep (claim, render, queue in the outbox) over each. Each
due ticket belongs to a customer of its own, as real reminders do: were they all one
address, the hourly limit on automatic mail would stop all but the first few before
rendering, and the sweep would time skipped mail.

    python bench/sweep_cost.py [--sizes 10000,100000,1000000] [--due 1000] [--dir DIR]
                               [--repeats 3] [--profile]

A database already built in DIR for the same size and due count is reused. --profile
runs one more sweep of the largest size under cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import SQLModel

from mailtickets import models  # noqa: F401  (registers the tables)
from mailtickets.checkpoints import Checkpoints
from mailtickets.config import load_settings
from mailtickets.db import open_database
from mailtickets.render import Renderer
from mailtickets.timers import Sweeper

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TABLES = SQLModel.metadata.tables
CHUNK = 20_000

CONFIG = """
[imap]
host = "127.0.0.1"
security = "none"
username = "bench"
password = "x"
[smtp]
host = "127.0.0.1"
security = "none"
from_address = "soporte@hostingejemplo.es"
[database]
url = "sqlite:///{db}"
[[departments]]
name = "Hosting"
staff = ["ana@hostingejemplo.es"]
[[staff]]
email = "ana@hostingejemplo.es"
name = "Ana"
"""


def ticket_row(n: int, due: int | None) -> dict[str, Any]:
    """Ticket `n`; `due` is its place among the due tickets, or None when it is not due."""
    created = NOW - timedelta(days=30, minutes=n % 10_000)
    return {
        "code": f"SOP-{n:06X}",
        "subject": f"Consulta {n}",
        "priority": "normal",
        "department": "Hosting",
        "requester": "cliente@empresa.es" if due is None else _customer_email(due),
        "customer_id": 1 if due is None else due + 2,
        "created_at": created,
        "updated_at": created,
        "status": "waiting" if due is not None else ("closed" if n % 3 else "open"),
        "remind_at": NOW - timedelta(hours=1) if due is not None else None,
        "reminder_sent_at": None,
        "first_response_due": None,
    }


def _customer_email(due: int) -> str:
    return f"cliente{due}@empresa{due}.es"


def build(db: Path, total: int, due: int) -> None:
    engine = open_database(f"sqlite:///{db}")
    with engine.begin() as conn:
        customers = [{"name": "Empresa", "created_at": NOW}]
        customers += [{"name": f"Empresa {i}", "created_at": NOW} for i in range(due)]
        conn.execute(insert(TABLES["customer"]), customers)
        contacts = [{"customer_id": 1, "email": "cliente@empresa.es", "name": "Cliente"}]
        contacts += [
            {"customer_id": i + 2, "email": _customer_email(i), "name": f"Cliente {i}"}
            for i in range(due)
        ]
        conn.execute(insert(TABLES["contact"]), [{**c, "notify": True} for c in contacts])
        step = max(total // due, 1)
        for start in range(0, total, CHUNK):
            rows = [
                ticket_row(n, n // step if n % step == 0 and n // step < due else None)
                for n in range(start, min(start + CHUNK, total))
            ]
            conn.execute(insert(TABLES["ticket"]), rows)
    engine.dispose()


def _due_in(db: Path) -> int:
    engine = open_database(f"sqlite:///{db}")
    with engine.connect() as conn:
        due = conn.execute(
            text("SELECT count(*) FROM ticket WHERE remind_at IS NOT NULL AND remind_at <= :now"),
            {"now": NOW},
        ).scalar_one()
    engine.dispose()
    return int(due)


def measure(db: Path, config: Path, repeats: int) -> tuple[list[float], list[float], int, int, str]:
    """Wall and CPU times of `repeats` complete sweeps (the CPU time is the steadier on a
    shared machine; SQLite runs in this process), tickets fired and mails queued per sweep,
    and SQLite's plan for the due-ticket query."""
    settings = load_settings(config)
    engine = open_database(settings.database_url)
    renderer = Renderer(settings.tickets.locale)
    with engine.connect() as conn:
        plan = " | ".join(
            str(r[-1])
            for r in conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM ticket WHERE remind_at IS NOT NULL "
                    "AND remind_at <= :now ORDER BY remind_at LIMIT 500"
                ),
                {"now": NOW},
            )
        )
    times, cpu, fired, queued = [], [], 0, 0
    expected = _due_in(db)
    # As Daemon.sweep runs it: the log checkpointed by a thread, not inside the commits.
    with Checkpoints(engine):
        for _ in range(repeats):
            restore = _snapshot(engine)
            started, started_cpu = time.perf_counter(), time.process_time()
            swept = 0
            while batch := Sweeper(settings, engine, renderer).sweep(NOW):
                swept += len(batch)
            assert swept == expected, f"a sweep fired {swept} of the {expected} due tickets"
            fired += swept
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            with engine.connect() as conn:
                queued += conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
            restore()
            # The restore's pages copied back now, untimed: each sweep starts with an empty log.
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return times, cpu, fired // repeats, queued // repeats, plan


def _snapshot(engine: Any) -> Any:
    """Make the due tickets due again after a timed sweep, so repeats measure the same."""
    with engine.connect() as conn:
        due_ids = [
            r[0] for r in conn.execute(text("SELECT id FROM ticket WHERE remind_at IS NOT NULL"))
        ]

    def restore() -> None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM outboxbody"))  # the mails' bytes: outbox.id's
            conn.execute(text("DELETE FROM outbox"))
            conn.execute(text("DELETE FROM event"))
            conn.execute(text("DELETE FROM automail"))  # the hourly limit's counts
            conn.execute(
                TABLES["ticket"]
                .update()
                .where(TABLES["ticket"].c.id.in_(due_ids))
                .values(
                    remind_at=NOW - timedelta(hours=1), status="waiting", reminder_outbox_id=None
                )
            )

    return restore


def profile(config: Path, top: int = 30) -> None:
    """One sweep under cProfile (the due tickets made due again afterwards)."""
    settings = load_settings(config)
    engine = open_database(settings.database_url)
    renderer = Renderer(settings.tickets.locale)
    restore = _snapshot(engine)
    Sweeper(settings, engine, renderer).sweep(NOW)  # warm: templates, statement caches
    restore()
    profiler = cProfile.Profile()
    profiler.enable()
    while Sweeper(settings, engine, renderer).sweep(NOW):
        pass
    profiler.disable()
    restore()
    engine.dispose()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="profile one more sweep")
    args = parser.parse_args()
    # Databases built here are kept in --dir for the next run; in a folder of its own, not.
    folder = args.dir or Path(tempfile.mkdtemp(prefix="mt-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"{'tickets':>10} {'due':>6} {'fired':>6} {'queued':>6} {'sweep s (median)':>17} "
            f"{'cpu s (median)':>15} {'per due ticket':>15}"
        )
        for total in (int(s) for s in args.sizes.split(",")):
            # Named for what it holds: a database of an older layout is never reused.
            name = f"sweep-v2-{total}-{args.due}"
            db, config = folder / f"{name}.db", folder / f"{name}.toml"
            if db.exists() and _due_in(db) != args.due:
                db.unlink()  # a run stopped between a sweep and its restore: spent
            if not db.exists():
                build(db, total, args.due)
            config.write_text(CONFIG.format(db=db))
            times, cpu, fired, queued, plan = measure(db, config, args.repeats)
            median = statistics.median(times)
            print(
                f"{total:>10} {args.due:>6} {fired:>6} {queued:>6} {median:>17.3f} "
                f"{statistics.median(cpu):>15.3f} "
                f"{median / max(fired, 1) * 1000:>12.2f} ms"
            )
        print(f"query plan: {plan}")
        if args.profile:
            profile(config)
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
