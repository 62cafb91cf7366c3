"""Ingest and delivery with 1, 2 and 3 workers on PostgreSQL, beside SQLite with one (issue
10 point 7, SPEC §10: "on PostgreSQL, more workers ingest and deliver more, up to the
mailbox's own limit").

Fills one Dovecot mailbox with N generated support mails (bench/corpus.py, seeded), then for
each setup gives real `mailtickets run` daemons (subprocesses, as the three-worker test
starts them) a fresh copy of that mailbox (a new Dovecot user holding the same mails), a
fresh database (a SQLite file, or a new database in one PostgreSQL cluster running with
production durability: fsync, synchronous_commit and full_page_writes on) and an SMTP sink
in its own process (bench/sink.py). It times the wall clock from starting the workers until
every mail is processed (inbound state no longer pending) and every mail the outbox holds
(the acknowledgements and staff notices) has reached the sink.

One mailbox is watched by exactly one worker at a time (mailtickets/watch.py: a lease row):
only the holder fetches. The other workers claim the inbound rows it saved and the outbox
rows anyone queued, so extra workers can only add processing and delivery, not fetching.

The schema is made (`db upgrade`) before the clock starts; the workers' interpreter start
(about a second) is inside the figure, the same for every setup.

    python bench/workers_throughput.py [--mails 1000] [--batch 50] [--seed 1]
                                       [--setups sqlite:1,postgresql:1,postgresql:2,postgresql:3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import CorpusMail, generate, summary
from bench.ingest_throughput import SUPPORT, Sink, fill, write_config
from tests.servers import Dovecot, Postgres

ROOT = Path(__file__).resolve().parents[1]

ONE_FETCHER = (
    "one mailbox has one watcher (mailtickets/watch.py, a lease row): only the holder "
    "fetches; extra workers add processing and delivery, not fetching"
)
_FETCHED = re.compile(r"mailtickets\.ingest: mailbox \S+: fetched (\d+) new message")
_PROCESSED = re.compile(r"mailtickets\.pipeline: message ")
_SENT = re.compile(r"mailtickets\.outbox: outbox \S+ \S+ sent → ")


@dataclass(frozen=True)
class Setup:
    backend: str  # sqlite | postgresql
    workers: int

    @property
    def name(self) -> str:
        return f"{self.backend}:{self.workers}"


@dataclass
class Result:
    setup: Setup
    mails: int
    wall: float  # workers started → last mail processed and last notice at the sink
    processed_at: float  # workers started → no inbound row pending (seen by polling)
    notices: int
    tickets: int
    kinds: dict[str, int]
    states: dict[str, int]
    shares: list[tuple[int, int, int]] = field(default_factory=list)  # fetched, processed, sent
    problems: list[str] = field(default_factory=list)  # inbound rows not done, mail sent twice

    def line(self) -> str:
        s = self.setup
        shares = "  ".join(f"w{n}: {f}/{p}/{d}" for n, (f, p, d) in enumerate(self.shares))
        return (
            f"{s.backend:<10} {s.workers:>7}  {self.mails / self.wall:7.1f}  "
            f"{self.notices / self.wall:9.1f}  {self.wall:8.1f} s  "
            f"{self.processed_at:8.1f} s  {self.notices:7d}   {shares}"
        )


HEADER = (
    "backend    workers  mails/s  notices/s      wall  processed  notices   "
    "per worker: fetched/processed/sent"
)


def parse_setups(spec: str) -> list[Setup]:
    setups = []
    for item in spec.split(","):
        backend, _, workers = item.strip().partition(":")
        if backend not in ("sqlite", "postgresql") or not workers.isdigit():
            raise SystemExit(f"--setups: {item!r} is not sqlite:N or postgresql:N")
        setups.append(Setup(backend, int(workers)))
    return setups


def configure(folder: Path, dovecot: Dovecot, user: str, sink: Sink, batch: int, url: str) -> Path:
    """bench/ingest_throughput.py's config (the tests' site, a big hourly auto-reply limit,
    `[imap] batch_size`), its database URL replaced by this setup's."""
    path = write_config(folder, dovecot, user, sink, batch)
    config = path.read_text()
    sqlite_url = f'url = "sqlite:///{folder / f"{user}.db"}"'
    assert sqlite_url in config, "write_config no longer writes the URL this expects"
    if url.startswith("postgresql"):
        path.write_text(config.replace(sqlite_url, f'url = "{url}"'))
    return path


def run_setup(
    setup: Setup,
    mails: Sequence[CorpusMail],
    dovecot: Dovecot,
    postgres: Postgres | None,
    folder: Path,
    batch: int,
    timeout: float,
    verbose: bool = False,
) -> Result:
    user = dovecot.add_user()
    fill(dovecot, user, mails)
    here = folder / setup.name.replace(":", "-")
    here.mkdir()
    sink = Sink(here)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    engine: Engine | None = None
    try:
        if setup.backend == "postgresql":
            assert postgres is not None
            url = postgres.create_database()
        else:
            url = f"sqlite:///{here / f'{user}.db'}"
        config = configure(here, dovecot, user, sink, batch, url)
        base = [sys.executable, "-m", "mailtickets", "--config", str(config)]
        if verbose:
            base.append("--verbose")
        # The schema first, outside the clock: every setup starts from an empty database.
        with (here / "db-upgrade.log").open("wb") as err:
            subprocess.run([*base, "db", "upgrade"], check=True, env=env, stdout=err, stderr=err)
        engine = create_engine(url)
        logs = [here / f"worker{n}.log" for n in range(setup.workers)]
        started = time.time()
        for log in logs:
            with log.open("wb") as err:
                procs.append(
                    subprocess.Popen(
                        [*base, "run"], stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT
                    )
                )
        processed_at, last_sent = _wait_until_done(
            engine, sink, len(mails), started, timeout, procs, logs
        )
        with engine.connect() as conn:
            inbound = conn.execute(text("SELECT state, count(*) FROM inbound GROUP BY 1"))
            outbox = conn.execute(text("SELECT kind, count(*) FROM outbox GROUP BY 1"))
            states = {str(k): int(n) for k, n in inbound}
            kinds = {str(k): int(n) for k, n in outbox}
            tickets = int(conn.execute(text("SELECT count(*) FROM ticket")).scalar_one())
            problems = [
                f"inbound {mid} {state} after {attempts} attempt(s): {outcome} {error}"
                for mid, state, attempts, outcome, error in conn.execute(
                    text(
                        "SELECT message_id, state, attempts, outcome, error FROM inbound "
                        "WHERE state != 'done' ORDER BY id"
                    )
                )
            ]
        sent = Counter(mid for _, mid, _, _ in sink.received())
        problems += [f"sink got {mid} {n} times" for mid, n in sorted(sent.items()) if n > 1]
    finally:
        _stop(procs)
        sink.stop()
        if engine is not None:
            engine.dispose()
    wall = max(last_sent, processed_at) - started
    return Result(
        setup,
        len(mails),
        wall,
        processed_at - started,
        sum(kinds.values()),
        tickets,
        kinds,
        states,
        [_share(log) for log in logs],
        problems,
    )


def _wait_until_done(
    engine: Engine,
    sink: Sink,
    mails: int,
    started: float,
    timeout: float,
    procs: Sequence[subprocess.Popen[bytes]],
    logs: Sequence[Path],
) -> tuple[float, float]:
    """(when no inbound row was pending any more, when the last outbox mail reached the
    sink), both unix times; polled every 0.2 s, two cheap queries and the sink's log."""
    processed_at = 0.0
    while True:
        time.sleep(0.2)
        now = time.time()
        dead = [p.args for p in procs if p.poll() is not None]
        if dead or now - started > timeout:
            tails = {log.name: log.read_text(errors="replace")[-1500:] for log in logs}
            raise RuntimeError(f"not done after {now - started:.0f} s (exited: {dead}): {tails}")
        try:
            with engine.connect() as conn:
                inbound = conn.execute(
                    text(
                        "SELECT count(*), coalesce(sum(CASE WHEN state = 'pending' "
                        "THEN 1 ELSE 0 END), 0) FROM inbound"
                    )
                ).one()
                if processed_at == 0.0 and inbound[0] == mails and inbound[1] == 0:
                    processed_at = now
                if not processed_at:
                    continue
                queued = {m for (m,) in conn.execute(text("SELECT message_id FROM outbox"))}
        except DBAPIError:  # a busy moment of the database: ask again
            continue
        received = sink.received()
        if queued <= {mid for _, mid, _, _ in received}:
            return processed_at, max((at for at, *_ in received), default=now)


def _share(log: Path) -> tuple[int, int, int]:
    """(mails fetched, mails processed, mails sent) by one worker, from its log."""
    body = log.read_text(errors="replace")
    fetched = sum(int(n) for n in _FETCHED.findall(body))
    return fetched, len(_PROCESSED.findall(body)), len(_SENT.findall(body))


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50, help="[imap] and [smtp] batch_size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--setups", default="sqlite:1,postgresql:1,postgresql:2,postgresql:3")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per setup")
    parser.add_argument("--verbose", action="store_true", help="workers log at debug level")
    args = parser.parse_args(argv)
    setups = parse_setups(args.setups)
    mails = generate(args.mails, seed=args.seed, domain_tag=f"w{args.mails}", support=SUPPORT)
    print(f"corpus: {args.mails} mails, seed {args.seed}, {summary(mails)}", flush=True)
    print(f"note: {ONE_FETCHER}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="mt-bench-workers-"))
    print(f"worker and sink logs kept in {folder}", flush=True)
    results: list[Result] = []
    dovecot = Dovecot.start()
    postgres: Postgres | None = None
    try:
        if any(s.backend == "postgresql" for s in setups):
            postgres = Postgres.start(durable=True)
        print(HEADER, flush=True)
        for setup in setups:
            result = run_setup(
                setup, mails, dovecot, postgres, folder, args.batch, args.timeout, args.verbose
            )
            results.append(result)
            print(result.line(), flush=True)
    finally:
        if postgres is not None:
            postgres.stop()
        dovecot.stop()
    print(f"\n{HEADER}")
    for result in results:
        print(result.line())
    for result in results:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.kinds.items()))
        states = ", ".join(f"{k} {n}" for k, n in sorted(result.states.items()))
        print(f"{result.setup.name}: inbound {states}; {result.tickets} tickets; outbox {kinds}")
        for problem in result.problems:
            print(f"  {problem}")
    print(
        "\nwall: workers started → every mail processed and every outbox mail at the sink; "
        "processed: → no inbound row pending (polled every 0.2 s)."
    )
    print(f"note: {ONE_FETCHER}.")
    undone = [r.setup.name for r in results if r.problems]
    if undone:
        print(f"warning: mail not done or sent twice in {undone} (listed above)")
    counts = Counter((r.tickets, r.notices) for r in results)
    if len(counts) > 1:
        # The same mails, so the same tickets and notices, but for order: a reply processed
        # by one worker while another still has the mail it answers in an open transaction
        # finds no ticket to thread into and opens one of its own.
        print(
            "warning: the setups made different numbers of tickets and notices from the same "
            f"mails: {dict((r.setup.name, (r.tickets, r.notices)) for r in results)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
