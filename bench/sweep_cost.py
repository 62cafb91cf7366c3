"""Timer sweep cost: does it follow the number of due tickets, or the number of tickets?

Builds SQLite databases with the real schema holding N tickets of which D are due for a
reminder, then times one real sweep (claim, render, queue in the outbox) over each.

    python bench/sweep_cost.py [--sizes 10000,100000,1000000] [--due 1000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import SQLModel

from mailtickets import models  # noqa: F401  (registers the tables)
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


def ticket_row(n: int, due: bool) -> dict[str, Any]:
    created = NOW - timedelta(days=30, minutes=n % 10_000)
    return {
        "code": f"SOP-{n:06X}",
        "subject": f"Consulta {n}",
        "priority": "normal",
        "department": "Hosting",
        "requester": "cliente@empresa.es",
        "customer_id": 1,
        "created_at": created,
        "updated_at": created,
        "status": "waiting" if due else ("closed" if n % 3 else "open"),
        "remind_at": NOW - timedelta(hours=1) if due else None,
        "reminder_sent_at": None,
        "first_response_due": None,
    }


def build(db: Path, total: int, due: int) -> None:
    engine = open_database(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(insert(TABLES["customer"]), [{"name": "Empresa", "created_at": NOW}])
        conn.execute(
            insert(TABLES["contact"]),
            [{"customer_id": 1, "email": "cliente@empresa.es", "name": "Cliente", "notify": True}],
        )
        step = max(total // due, 1)
        for start in range(0, total, CHUNK):
            rows = [
                ticket_row(n, n % step == 0 and n // step < due)
                for n in range(start, min(start + CHUNK, total))
            ]
            conn.execute(insert(TABLES["ticket"]), rows)
    engine.dispose()


def measure(db: Path, config: Path, repeats: int) -> tuple[list[float], int, str]:
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
    times, fired = [], 0
    for _ in range(repeats):
        restore = _snapshot(engine)
        started = time.perf_counter()
        while batch := Sweeper(settings, engine, renderer).sweep(NOW):
            fired += len(batch)
        times.append(time.perf_counter() - started)
        restore()
    engine.dispose()
    return times, fired // repeats, plan


def _snapshot(engine: Any) -> Any:
    """Make the due tickets due again after a timed sweep, so repeats measure the same."""
    with engine.connect() as conn:
        due_ids = [
            r[0] for r in conn.execute(text("SELECT id FROM ticket WHERE remind_at IS NOT NULL"))
        ]

    def restore() -> None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM outbox"))
            conn.execute(text("DELETE FROM event"))
            conn.execute(
                TABLES["ticket"]
                .update()
                .where(TABLES["ticket"].c.id.in_(due_ids))
                .values(remind_at=NOW - timedelta(hours=1), status="waiting")
            )

    return restore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="mt-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"{'tickets':>10} {'due':>6} {'fired':>6} {'sweep s (median)':>17} {'per due ticket':>15}"
    )
    for total in (int(s) for s in args.sizes.split(",")):
        db, config = folder / f"sweep-{total}.db", folder / f"sweep-{total}.toml"
        if not db.exists():
            build(db, total, args.due)
        config.write_text(CONFIG.format(db=db))
        times, fired, plan = measure(db, config, args.repeats)
        median = statistics.median(times)
        print(
            f"{total:>10} {args.due:>6} {fired:>6} {median:>17.3f} "
            f"{median / max(fired, 1) * 1000:>12.2f} ms"
        )
    print(f"query plan: {plan}")


if __name__ == "__main__":
    main()
